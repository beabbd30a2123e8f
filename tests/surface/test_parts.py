import numpy as np

from annotator.surface import parts


def test_fine_and_coarse_orders_match_densepose():
    assert len(parts.FINE_PARTS) == 24 and len(parts.COARSE_PARTS) == 14
    assert parts.fine_name(1) == "torso back" and parts.fine_name(2) == "torso front"
    assert parts.fine_name(3) == "right hand" and parts.fine_name(5) == "left foot"
    assert parts.fine_name(23) == "right head" and parts.fine_name(24) == "left head"
    assert parts.coarse_name(2) == "right hand" and parts.coarse_name(14) == "head"
    # Every chart belongs to the coarse part of the same name (plus back/front etc.).
    for i in range(1, 25):
        coarse = parts.coarse_name(int(parts.FINE_TO_COARSE[i]))
        assert set(coarse.split()) <= set(parts.fine_name(i).split()), (i, coarse)


def test_flips_are_involutions_and_agree_between_levels():
    for flip in (parts.FLIP_FINE, parts.FLIP_COARSE):
        assert (flip[flip] == np.arange(len(flip))).all()
    assert (parts.FINE_TO_COARSE[parts.FLIP_FINE] == parts.FLIP_COARSE[parts.FINE_TO_COARSE]).all()
    for i in range(1, 25):
        a, b = parts.fine_name(i), parts.fine_name(int(parts.FLIP_FINE[i]))
        if "left" in a or "right" in a:
            assert a.replace("left", "X").replace("right", "X") == b.replace("left", "X").replace(
                "right", "X"
            )
            assert a != b


def test_out_of_range_names_are_rejected():
    import pytest

    with pytest.raises(ValueError):
        parts.fine_name(0)
    with pytest.raises(ValueError):
        parts.coarse_name(15)
