"""Reliability (issue #18): bad flags refused up front, results files checked on load, nothing a
crash or a failed save could lose."""

from __future__ import annotations

import pytest

from shared import batch


def _refused(capsys, argv: list[str]) -> str:
    """``run_all.sh argv`` stops in parse_args with exit 2 and one line on stderr; returns it."""
    with pytest.raises(SystemExit) as info:
        batch.parse_args(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("run_all.sh: error:"), err
    return err


# ---------------------------------------------------------------- item 8: --models ""


@pytest.mark.parametrize("text", ["", " ", ",", " , "])
def test_empty_model_list_is_refused_like_an_empty_seed_list(capsys, text):
    assert "no seeds given" in _refused(capsys, ["--seeds", text])
    assert "no models given" in _refused(capsys, ["--models", text])


def test_all_still_means_the_22_models():
    from shared import registry

    assert batch.parse_args(["--models", "all"]).models == list(registry.MODEL_NAMES)
