-- IPAM: each node's address pool (IPs and host port ranges) and the servers'
-- allocations (ip:port bindings). UNIQUE (node_id, ip, port) is what keeps two
-- servers off one allocation whichever replica picks it; at most one primary
-- per server is an index, at least one is kept by the code.
CREATE TABLE node_ip_pool (
    node_id uuid NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    ip      inet NOT NULL,
    PRIMARY KEY (node_id, ip)
);

CREATE TABLE node_port_ranges (
    node_id    uuid    NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    port_start integer NOT NULL CHECK (port_start BETWEEN 1 AND 65535),
    port_end   integer NOT NULL CHECK (port_end BETWEEN port_start AND 65535),
    PRIMARY KEY (node_id, port_start)
);

CREATE TABLE allocations (
    id             uuid PRIMARY KEY,
    node_id        uuid        NOT NULL REFERENCES nodes (id),
    server_id      uuid        NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    ip             inet        NOT NULL,
    port           integer     NOT NULL CHECK (port BETWEEN 1 AND 65535),
    container_port integer     NOT NULL CHECK (container_port BETWEEN 1 AND 65535),
    is_primary     boolean     NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT allocations_address_unique UNIQUE (node_id, ip, port)
);
CREATE UNIQUE INDEX allocations_one_primary ON allocations (server_id) WHERE is_primary;
CREATE UNIQUE INDEX allocations_container_port ON allocations (server_id, container_port);

-- Servers registered before: their primary port becomes their primary allocation on
-- every interface (0.0.0.0), the first server per node and port when several shared one.
INSERT INTO allocations (id, node_id, server_id, ip, port, container_port, is_primary)
SELECT DISTINCT ON (node_id, primary_port)
       gen_random_uuid(), node_id, id, '0.0.0.0'::inet, primary_port, primary_port, true
FROM servers ORDER BY node_id, primary_port, created_at;
