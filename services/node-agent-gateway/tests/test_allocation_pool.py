"""Reading an admin's IP pool: addresses and CIDR blocks, port ranges."""

import pytest

from nodebyte_common.allocations import PortRange
from nodebyte_node_agent_gateway.allocations import (
    AllocationRefused,
    check_ranges,
    expand_addresses,
)


def test_cidr_blocks_expand_to_their_hosts_without_duplicates() -> None:
    assert expand_addresses(["10.0.0.0/30", "10.0.0.2", "10.0.1.7/32"]) == [
        "10.0.0.1",
        "10.0.0.2",
        "10.0.1.7",
    ]
    assert expand_addresses(["2001:db8::1"]) == ["2001:db8::1"]


@pytest.mark.parametrize("entry", ["10.0.0.256", "10.0.0.0/33", "::g", "10.0.0.0/16"])
def test_bad_or_huge_entries_are_refused(entry: str) -> None:
    with pytest.raises(AllocationRefused) as refused:
        expand_addresses([entry])
    assert refused.value.status == 400


def test_port_ranges_are_ordered_and_must_not_overlap() -> None:
    assert check_ranges([PortRange(3000, 3010), PortRange(25565, 25565)]) == [
        (3000, 3010),
        (25565, 25565),
    ]
    for ranges in ([PortRange(10, 5)], [PortRange(1, 10), PortRange(10, 20)]):
        with pytest.raises(AllocationRefused):
            check_ranges(ranges)
