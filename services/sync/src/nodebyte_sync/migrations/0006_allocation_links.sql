-- The allocation -> server links the servers step last read from the panel. They are
-- kept apart from the allocations so that allocations written after the servers (a
-- partial sync of nodes on a mirror whose servers were synced first) are linked too.
CREATE TABLE allocation_links (
    allocation_id  bigint PRIMARY KEY,
    server_id      bigint NOT NULL
);

INSERT INTO allocation_links (allocation_id, server_id)
SELECT id, server_id FROM allocations WHERE server_id IS NOT NULL;
