"""What `decoding` takes from a caller's JSON: whole floats are integers, as JSON says."""

from __future__ import annotations

import pytest

from nodebyte_common.contracts.nodes import NodeUpdate
from nodebyte_common.decoding import BadInput, decode_json


def test_a_whole_float_is_the_integer_it_spells() -> None:
    """JSON Schema (and so our document) counts 2.0 as the integer 2: schemathesis sent
    `{"maxCpuCores": 1.0}` as valid data and the strict decoder refused it."""
    body = decode_json(b'{"maxCpuCores": 2.0, "maxMemoryMb": 512}', NodeUpdate)
    assert body.max_cpu_cores == 2
    assert type(body.max_cpu_cores) is int


@pytest.mark.parametrize(
    ("raw", "said"),
    [
        (b'{"maxCpuCores": 1.5}', "got `float`"),  # not a whole number
        (b'{"maxCpuCores": "1"}', "got `str`"),  # still strict about text
        (b'{"maxCpuCores": 0.0}', ">= 1"),  # a whole float meets the bounds as an int
    ],
)
def test_other_numbers_are_still_refused(raw: bytes, said: str) -> None:
    with pytest.raises(BadInput, match=said):
        decode_json(raw, NodeUpdate)
