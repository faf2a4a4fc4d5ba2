"""Quality scores of generated patches (histogan_lite.quality): exact values, and metrics that can fail."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from histogan_lite import quality as q
from histogan_lite.classifier import build_classifier


def _random_cnn(size: int = 32):
    torch.manual_seed(0)  # a fixed random CNN: a cheap feature space for the metric tests
    return build_classifier("cnn", image_size=size).eval()


@pytest.fixture(scope="module")
def sets():
    real, real_labels = q.unseen_real_patches(200, size=32, seed=1)
    other, other_labels = q.unseen_real_patches(200, size=32, seed=2)
    return real, real_labels, other, other_labels, _random_cnn()


def test_prdc_exact_on_hand_made_features():
    real = np.array([[0.0], [1.0], [2.0], [3.0]])
    gen = np.array([[0.5], [10.0]])
    # k=1: real radii 1, generated radii 9.5; gen 0.5 lies in the balls of real 0 and 1, gen 10 in none
    assert q.prdc(real, gen, k=1) == {"precision": 0.5, "recall": 1.0, "density": 1.0, "coverage": 0.5}
    # the same set against itself: each point lies in its own ball only (neighbours sit at the radius, strict <)
    assert q.prdc(real, real, k=1) == {"precision": 1.0, "recall": 1.0, "density": 1.0, "coverage": 1.0}
    with pytest.raises(ValueError, match="more than 1 points"):
        q.prdc(real[:1], gen, k=1)


def test_grid_energy_exact_for_a_checkerboard_and_a_flat_stripe():
    checker = ((np.indices((8, 8)).sum(0) % 2) * 255).astype(np.uint8)
    checker = np.repeat(checker[None, :, :, None], 3, axis=3)
    assert q.grid_energy(checker) == pytest.approx(1.0)  # all power at (N/2, N/2)
    stripes = np.zeros((1, 8, 8, 3), np.uint8)
    stripes[:, :, ::3] = 255  # period-3 stripes: most of their power lies off the period-2/4 grid
    assert q.grid_energy(stripes) < 0.2


def test_real_vs_real_is_near_zero_and_covered(sets):
    real, rl, other, ol, cnn = sets
    s = q.gan_quality(other, real, classifier=cnn, train=other)["all"]
    assert abs(s.kid_classifier) < 2.0 and abs(s.kid_texture) < 100.0  # KID x1000; blurred real: 6.6 and 62,000
    assert s.coverage > 0.9 and s.coverage_texture > 0.85
    assert 0.9 < s.diversity < 1.1 and 0.8 <= s.grid_energy <= 1.25
    assert s.memorisation == pytest.approx(0.0, abs=1e-6)  # 'train' is the generated set itself: copies
    assert all(q.check_floors(s).values())


def test_mode_collapse_fails_coverage_recall_diversity(sets):
    real, rl, other, ol, cnn = sets
    collapsed = np.repeat(other[:1], 200, axis=0)
    s = q.gan_quality(collapsed, real, classifier=cnn)["all"]
    floors = q.check_floors(s)
    assert not floors["coverage"] and not floors["diversity"]
    assert s.recall < 0.05 and s.recall_texture < 0.05 and s.diversity == pytest.approx(0.0, abs=1e-6)


def test_checkerboard_artefacts_fail_the_grid_band(sets):
    real, rl, other, ol, cnn = sets
    grid = np.where(np.indices((32, 32)).sum(0) % 2, 12, -12)[None, :, :, None]
    artefacts = np.clip(other.astype(int) + grid, 0, 255).astype(np.uint8)
    s = q.gan_quality(artefacts, real, classifier=cnn)["all"]
    assert s.grid_energy > 1.25 and not q.check_floors(s)["grid_energy"]


def test_blurred_real_is_worse_than_real(sets):
    real, rl, other, ol, cnn = sets
    same = q.gan_quality(other, real, classifier=cnn)["all"]
    blurred = q.gan_quality(q.box_blur(other), real, classifier=cnn)["all"]
    assert blurred.kid_texture > 1000.0 > 100.0 > same.kid_texture
    assert blurred.kid_classifier > same.kid_classifier
    assert blurred.coverage_texture < same.coverage_texture and blurred.grid_energy < 0.8
    assert q.check_floors(same, blurred=blurred)["kid_below_blurred"]


def test_conditional_groups_and_class_agreement(sets):
    real, rl, other, ol, cnn = sets
    rep = q.gan_quality(other, real, generated_labels=ol, real_labels=rl, classifier=cnn)
    assert [s.group for s in rep.scores] == ["negative", "positive"]
    assert all(0.0 <= s.class_agreement <= 1.0 for s in rep.scores)
    assert rep["negative"].n_generated == int((ol == 0).sum())
    with pytest.raises(ValueError, match="real_labels are needed"):
        q.gan_quality(other, real, generated_labels=ol, classifier=cnn)
    assert list(rep.table("x").columns[:2]) == ["generator", "group"]


def test_class_agreement_floor_is_relative_to_the_classifiers_recall_on_real(sets):
    from histogan_lite.classifier import train_classifier

    real, rl, other, ol, _ = sets
    train, train_labels = q.unseen_real_patches(200, size=32, seed=3)  # unseen by both sets below
    clf = train_classifier(train, train_labels, epochs=30, lr=3e-3, patience=None, seed=0, device="cpu", show_progress=False)
    rep = q.gan_quality(other, real, generated_labels=ol, real_labels=rl, classifier=clf)
    # real patches with their true labels pass (at 90 %: 100 patches per class are a noisy estimate);
    # the same patches conditioned on the wrong class fail
    for s in rep.scores:
        assert 0.6 < s.class_agreement_real <= 1.0
        assert q.check_floors(s, floors={"class_agreement": 0.9})["class_agreement"]
    swapped = q.gan_quality(other, real, generated_labels=1 - ol, real_labels=rl, classifier=clf)
    assert not any(q.check_floors(s)["class_agreement"] for s in swapped.scores)


def test_inputs_both_conventions_and_errors(sets):
    real, rl, other, ol, cnn = sets
    x = torch.from_numpy(other[:20]).permute(0, 3, 1, 2).float() / 127.5 - 1
    assert q.diversity(x) == pytest.approx(q.diversity(other[:20]), rel=1e-5)
    assert q.box_blur(x).shape == other[:20].shape
    with pytest.raises(TypeError, match="uint8"):
        q.diversity(other.astype(np.float32))
    with pytest.raises(ValueError, match="same patch size"):
        q.gan_quality(other, q.unseen_real_patches(10, size=64)[0], classifier=cnn)


def test_old_names_stay_importable_from_evaluation():
    from histogan_lite import evaluation

    assert evaluation.kid is q.kid and evaluation.fid_from_features is q.fid_from_features


# ----------------------------------------------------------------------------------------------------
# Regression guard: the shipped generators reach the floors of issue 11 on a small sample
# ----------------------------------------------------------------------------------------------------
# Retrained checkpoints must keep passing every floor their model card says they pass (KNOWN_MISSES).
@pytest.fixture(scope="module")
def shipped_setting():
    """``size -> (real, real_labels, classifier, blurred-real scores)``, built once per patch size."""
    settings = {}

    def at(size):
        if size not in settings:
            real, real_labels = q.unseen_real_patches(400, size=size, seed=1)
            blur_src, _ = q.unseen_real_patches(200, size=size, seed=2)
            clf = q.quality_classifier(size)  # cached in data_dir() per renderer version and size (~25 s CPU at 64 px)
            settings[size] = real, real_labels, clf, q.gan_quality(q.box_blur(blur_src), real, classifier=clf)["all"]
        return settings[size]

    return at


def _shipped_names():
    from histogan_lite import pretrained

    return pretrained.available()


#: Floors the shipped generators are known to miss (issue 11 is open for them; their model cards say so).
#: The guard below fails when a generator misses any *other* floor, so it still catches a regression.
KNOWN_MISSES = {"dcgan-64": set(),  # every floor since the R1 penalty (coverage 0.93 at n = 500, its card)
                "cdcgan-64": set(),  # every floor since the R1 penalty (class agreement 0.87 / 0.80, real 0.88 / 0.78)
                # at 128 px a 3x3 blur hides far less (blurred real's texture KID: 681 at 128 px, 7,781 at 64 px),
                # so that bar is much stricter there (BENCHMARKS.md, "GAN sample quality", n = 500)
                "dcgan-128": {"kid_below_blurred"},  # texture KID 1,263 against 681
                "cdcgan-128": {"grid_energy", "kid_below_blurred"}}  # negatives: grid 1.51x real, texture KID 662 vs 657


@pytest.mark.parametrize("name", _shipped_names())
def test_shipped_generators_reach_the_quality_floors(name, shipped_setting):
    from histogan_lite import pretrained

    G = pretrained.load_generator(name)
    real, real_labels, clf, blurred = shipped_setting(G.image_size)
    rep = q.evaluate_generator(G, real, real_labels, n=200, classifier=clf,
                               keep_images=False)
    failed = {s.group: {f for f, ok in q.check_floors(s, blurred=blurred).items() if not ok} for s in rep.scores}
    unexpected = {g: sorted(f - KNOWN_MISSES.get(name, set())) for g, f in failed.items()}
    assert not any(unexpected.values()), f"{name} misses quality floors beyond the known ones: {unexpected} (all: {failed})"


def test_quality_table_rows_and_floor_columns():
    from histogan_lite.models import Generator

    torch.manual_seed(0)
    untrained = {"untrained cDCGAN": Generator(image_size=64, n_classes=2, width=32).eval(),
                 "untrained DCGAN": Generator(image_size=64, width=32).eval()}
    df = q.quality_table(untrained, n=10, n_train=20, classifier=_random_cnn(64), reference="untrained DCGAN")
    assert list(zip(df["generator"], df["group"])) == [
        ("real vs real", "all"), ("real blurred 3x3", "all"), ("untrained cDCGAN", "negative"),
        ("untrained cDCGAN", "positive"), ("untrained DCGAN", "all")]
    assert df.loc[0, "pass all"] and not df.loc[2:, "pass all"].any()  # noise from an untrained G fails
    assert df["pass kid_below_reference"].isna().tolist() == [True, True, False, False, True]
    with pytest.raises(ValueError, match="not one of the generators"):
        q.quality_table(untrained, n=20, reference="nope", classifier=_random_cnn(64))


def test_report_figure_pairs_generated_and_real_rows_per_class(sets):
    import matplotlib

    matplotlib.use("Agg")
    real, rl, other, ol, cnn = sets
    rep = q.gan_quality(other, real, generated_labels=ol, real_labels=rl, classifier=cnn, keep_images=True)
    fig = rep.figure(n=3)
    assert len(fig.axes) == 12  # 4 rows (generated / real x negative / positive) of 3 patches
    with pytest.raises(ValueError, match="holds no images"):
        q.gan_quality(other, real, classifier=cnn).figure()
