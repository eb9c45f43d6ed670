"""tests.bench.aws_call_cost runs on tiny inputs: every call and piece gives a measured figure with
its baseline and ratio (times are not checked), and it leaves moto and botocore as it found them."""

from __future__ import annotations

from botocore import auth
from moto.core.botocore_stubber import BotocoreStubber

from tests.bench import aws_call_cost
from tests.bench.harness import TINY


def test_every_call_and_piece_is_measured_against_its_baseline(tmp_path):
    signers, stubber = dict(auth.AUTH_TYPE_MAPS), vars(BotocoreStubber)["process_request"]

    figures = aws_call_cost.run(TINY, tmp_path)

    assert [f.name for f in figures if f.status != "measured"] == []
    names = {f.name for f in figures}
    assert {
        "aws_call_cost.dynamodb.UpdateItem",
        "aws_call_cost.piece.sign",
        "aws_call_cost.piece.judge",
    } <= names
    assert all(f.value is not None and f.ratio is not None and f.baseline for f in figures)
    assert signers == auth.AUTH_TYPE_MAPS
    assert vars(BotocoreStubber)["process_request"] is stubber
