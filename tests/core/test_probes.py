"""Alignment probes: debiased CKA against a hand-computed example, and why it is needed."""

import numpy as np
import pytest

from xscale.probes import average_over_languages, debiased_cka, linear_cka, middle_layer


def _hsic_by_hand(k: np.ndarray, l: np.ndarray) -> float:
    """Song et al. (2012), eq. 5, term by term with explicit loops."""
    n = len(k)
    kt, lt = k.copy(), l.copy()
    np.fill_diagonal(kt, 0)
    np.fill_diagonal(lt, 0)
    first = sum(kt[i, j] * lt[j, i] for i in range(n) for j in range(n))
    second = sum(kt[i, j] for i in range(n) for j in range(n)) * sum(lt[i, j] for i in range(n) for j in range(n))
    third = sum(kt[i, j] * lt[j, m] for i in range(n) for j in range(n) for m in range(n))
    return (first + second / ((n - 1) * (n - 2)) - 2 * third / (n - 2)) / (n * (n - 3))


def test_debiased_cka_matches_the_unbiased_hsic_by_hand():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 3)), rng.normal(size=(7, 4))
    k, l = x @ x.T, y @ y.T
    by_hand = _hsic_by_hand(k, l) / np.sqrt(_hsic_by_hand(k, k) * _hsic_by_hand(l, l))
    assert debiased_cka(x, y) == pytest.approx(by_hand)
    assert debiased_cka(x, x) == pytest.approx(1.0)
    assert debiased_cka(x, 3.0 * x @ np.linalg.qr(rng.normal(size=(3, 3)))[0]) == pytest.approx(1.0)


def test_linear_cka_grows_with_width_on_unrelated_data_and_debiased_cka_does_not():
    """Independent Gaussian representations of 300 sentences: the plug-in CKA is far from 0 and grows with
    the width, so a size trend in it is partly an artefact; the debiased estimate stays near 0."""
    rng = np.random.default_rng(1)
    plain, debiased = {}, {}
    for width in (64, 192):
        pairs = [(rng.normal(size=(300, width)), rng.normal(size=(300, width))) for _ in range(4)]
        plain[width] = np.mean([linear_cka(a, b) for a, b in pairs])
        debiased[width] = np.mean([debiased_cka(a, b) for a, b in pairs])
    assert 0.15 < plain[64] < plain[192]
    assert all(abs(v) < 0.02 for v in debiased.values()), debiased


def test_the_floor_language_is_kept_out_of_the_average():
    metrics = {"cka/clone/cka": 0.8, "cka/near/cka": 0.6, "cka/inv/cka": 0.1}
    assert average_over_languages(metrics, ("inv",)) == {"cka/avg/cka": pytest.approx(0.7)}
    assert average_over_languages(metrics) == {"cka/avg/cka": pytest.approx(0.5)}


def test_middle_layer_of_the_ladder():
    assert [middle_layer(n) for n in (3, 4, 6, 24)] == [2, 2, 3, 12]
