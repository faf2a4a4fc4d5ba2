"""Image grid figure helper."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from histogan_lite.plotting import as_uint8_images, image_grid  # noqa: E402


def test_image_grid_layout_and_titles():
    imgs = np.zeros((5, 8, 8, 3), dtype=np.uint8)
    imgs[3] = 200
    fig = image_grid(imgs, nrow=2, row_titles=["negative", "positive"], col_titles=["a", "b", "c"], title="T")
    axes = fig.axes
    assert len(axes) == 6  # 2 rows x 3 columns, last cell blank
    assert axes[0].get_ylabel() == "negative" and axes[3].get_ylabel() == "positive"
    assert [axes[i].get_title() for i in range(3)] == ["a", "b", "c"]
    assert len(axes[5].images) == 0 and len(axes[3].images) == 1
    assert np.array_equal(axes[3].images[0].get_array(), imgs[3])
    assert fig._suptitle.get_text() == "T"
    plt.close(fig)


def test_image_grid_accepts_tensors_in_minus_one_one():
    x = torch.zeros(4, 3, 8, 8)
    x[1] = 1.0
    fig = image_grid(x)
    assert len(fig.axes) == 4
    assert int(fig.axes[1].images[0].get_array().max()) == 255
    assert int(fig.axes[0].images[0].get_array().max()) == 128  # (0 + 1) * 127.5 rounded
    plt.close(fig)


def test_image_grid_errors():
    imgs = np.zeros((4, 8, 8, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="row_titles"):
        image_grid(imgs, nrow=2, row_titles=["a"])
    with pytest.raises(ValueError, match="col_titles"):
        image_grid(imgs, nrow=2, col_titles=["a"])
    with pytest.raises(ValueError, match="at least one"):
        image_grid(np.zeros((0, 8, 8, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        as_uint8_images(np.zeros((2, 8, 8, 3), dtype=np.float64))


def test_figure_alt_text_describes_titles_and_axes():
    from histogan_lite.plotting import figure_alt_text

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    ax.set_title("D loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    fig.suptitle("Losses")
    assert figure_alt_text(fig) == "Figure: Losses. D loss (x: step, y: loss)"  # one plot: no "Panels:"
    ax2 = fig.add_subplot(2, 1, 2)
    ax2.set_title("G loss")
    assert figure_alt_text(fig) == "Figure: Losses. Panels: D loss (x: step, y: loss); G loss"
    ax2.remove()
    fig.set_label("Discriminator and generator losses falling over 200 steps")
    assert figure_alt_text(fig) == "Discriminator and generator losses falling over 200 steps"
    plt.close(fig)
    grid = image_grid(np.zeros((2, 4, 4, 3), dtype=np.uint8), nrow=1)
    assert figure_alt_text(grid) == "Figure: 2 images"
    plt.close(grid)


def test_figure_alt_text_of_an_image_grid_names_its_rows_and_columns():
    from histogan_lite.plotting import figure_alt_text, figure_title_text

    fig = image_grid(
        np.zeros((4, 4, 4, 3), dtype=np.uint8),
        nrow=2,
        row_titles=["real\nnegative", "generated"],
        col_titles=["z1", "z2"],
        title="Each column: one z",
    )
    assert figure_title_text(fig) == (
        "Each column: one z. Grid of 4 images in 2 rows and 2 columns; rows: real negative, generated; columns: z1, z2"
    )
    assert figure_alt_text(fig) == "Figure: " + figure_title_text(fig)
    plt.close(fig)
    untitled = image_grid(np.zeros((3, 4, 4, 3), dtype=np.uint8), nrow=1)
    assert figure_title_text(untitled) == ""
    assert figure_alt_text(untitled) == "Figure: 3 images"
    plt.close(untitled)
    fig, axes = plt.subplots(1, 2)
    assert figure_title_text(fig) == "" and figure_alt_text(fig) == "Figure: 2 plot panels"
    axes[1].set_ylabel("accuracy")
    assert figure_title_text(fig) == "Panels: y: accuracy"
    plt.close(fig)


def test_figure_png_carries_title_and_description_text_chunks():
    import io

    from PIL import Image

    from histogan_lite.plotting import figure_png

    fig, ax = plt.subplots(figsize=(2, 2), dpi=40)
    ax.plot([0, 1], [0, 1])
    ax.set_title("Loss ≤ 1")  # not Latin-1: stored as an international text chunk
    fig.suptitle("Training")
    png = figure_png(fig)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    text = Image.open(io.BytesIO(png)).text
    assert text["Title"] == "Training. Loss ≤ 1"
    assert text["Description"] == "Figure: Training. Loss ≤ 1"
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(2, 2), dpi=40)
    ax.imshow(np.zeros((4, 4, 3), dtype=np.uint8))
    text = Image.open(io.BytesIO(figure_png(fig))).text
    assert "Title" not in text and text["Description"] == "Figure: 1 image"
    plt.close(fig)
