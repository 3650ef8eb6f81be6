"""Reading the image files people have (mmshuffle.apis.images): every file
is made here, none downloaded."""
import numpy as np
import pytest
from PIL import Image

from mmshuffle.apis.images import ImageReadError, read_image


def pattern(width=60, height=40):
    """An RGB image whose left half is red and top-left corner green, so
    that a rotation shows."""
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[:, :width // 2, 0] = 255
    rgb[:8, :8] = (0, 255, 0)
    return rgb


def test_plain_png_is_read_as_it_is(tmp_path):
    path = tmp_path / 'a.png'
    Image.fromarray(pattern()).save(path)
    image = read_image(str(path))
    assert image.rgb.dtype == np.uint8 and image.rgb.shape == (40, 60, 3)
    assert (image.rgb == pattern()).all()
    assert image.size == (60, 40) and image.scale == 1.0
    assert image.notes == ()
    assert (image.bgr == pattern()[..., ::-1]).all()


def test_exif_orientation_is_applied(tmp_path):
    """Orientation 6: the camera was turned; the picture is shown turned
    90 degrees clockwise (width and height swap)."""
    path = tmp_path / 'phone.jpg'
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(pattern()).save(path, exif=exif, quality=95)
    image = read_image(str(path))
    assert image.rgb.shape == (60, 40, 3) and image.size == (40, 60)
    assert image.notes == ('EXIF orientation 6', )
    # the green corner, top-left in the file, is top-right upright
    assert image.rgb[:6, -6:, 1].mean() > 200
    assert image.rgb[:6, :6, 1].mean() < 60


def test_gray_palette_and_transparency(tmp_path):
    gray = tmp_path / 'gray.png'
    Image.fromarray(np.full((10, 12), 100, np.uint8), 'L').save(gray)
    image = read_image(str(gray))
    assert image.rgb.shape == (10, 12, 3) and (image.rgb == 100).all()

    rgba = np.zeros((10, 12, 4), np.uint8)
    rgba[..., 2] = 255
    rgba[:, :6, 3] = 255  # left half opaque blue, right half transparent
    path = tmp_path / 'rgba.png'
    Image.fromarray(rgba, 'RGBA').save(path)
    image = read_image(str(path))
    assert (image.rgb[:, :6] == (0, 0, 255)).all()
    assert (image.rgb[:, 6:] == 255).all()  # over white
    assert image.notes == ('RGBA transparency composited over white', )

    path = tmp_path / 'la.png'
    Image.fromarray(rgba[..., [2, 3]], 'LA').save(path)
    assert read_image(str(path)).rgb[:, 6:].min() == 255

    palette = Image.fromarray(np.tile(np.arange(12, dtype=np.uint8),
                                      (10, 1)), 'P')
    palette.putpalette([0, 0, 0] * 256)
    path = tmp_path / 'p.png'
    palette.save(path, transparency=0)
    image = read_image(str(path))
    assert (image.rgb[:, 0] == 255).all() and (image.rgb[:, 1:] == 0).all()


def test_cmyk_jpeg(tmp_path):
    path = tmp_path / 'print.jpg'
    Image.new('CMYK', (20, 10), (0, 255, 255, 0)).save(path, quality=95)
    image = read_image(str(path))
    assert image.rgb.shape == (10, 20, 3)
    red, green, blue = image.rgb.reshape(-1, 3).mean(0)
    assert red > 200 and green < 60 and blue < 60
    assert image.notes == ('CMYK converted to RGB', )


def test_16_bit_png_and_tiff_are_scaled_not_clipped(tmp_path):
    """A 16-bit gray image whose values reach 65535 is not white: 16 bits
    divided by 257 (Pillow's own RGB conversion clips them at 255)."""
    ramp = (np.arange(64, dtype=np.uint32) * 1040).astype(np.uint16)
    ramp = np.tile(ramp, (8, 1))
    for name in ('deep.png', 'deep.tif'):
        path = tmp_path / name
        Image.fromarray(ramp).save(path)
        image = read_image(str(path))
        expected = np.round(ramp / 257).astype(np.uint8)
        assert (image.rgb[..., 0] == expected).all(), name
        assert image.notes == ('16-bit scaled to 8', )
        assert (image.rgb == 255).mean() < 0.05


def test_float_tiff_is_scaled_from_its_range(tmp_path):
    path = tmp_path / 'depth.tif'
    Image.fromarray(np.linspace(-1, 3, 40, dtype=np.float32).reshape(4, 10),
                    'F').save(path)
    image = read_image(str(path))
    assert image.rgb[0, 0, 0] == 0 and image.rgb[-1, -1, 0] == 255


@pytest.mark.parametrize('name,content,message', [
    ('empty.jpg', b'', 'the file is empty'),
    ('notes.jpg', b'these are my notes, not a photo\n',
     'not an image file Pillow can read'),
])
def test_files_that_are_not_images(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImageReadError, match=message) as info:
        read_image(str(path))
    assert str(path) in str(info.value)
    with pytest.raises(ImageReadError, match='no such file'):
        read_image(str(tmp_path / 'missing.png'))


def test_truncated_files(tmp_path):
    for name in ('cut.jpg', 'cut.png'):
        whole = tmp_path / ('whole' + name[3:])
        Image.fromarray(np.random.default_rng(0).integers(
            0, 255, (200, 200, 3), np.uint8)).save(whole)
        data = whole.read_bytes()
        path = tmp_path / name
        path.write_bytes(data[:len(data) // 3])
        with pytest.raises(ImageReadError, match='cannot decode') as info:
            read_image(str(path))
        assert str(path) in str(info.value)


def test_images_over_the_limit(tmp_path):
    """A JPEG over max_pixels is decoded at a smaller size (its scale says
    which); another format is refused with its size named."""
    big = np.zeros((400, 800, 3), np.uint8)
    big[:, :400, 0] = 255
    path = tmp_path / 'big.jpg'
    Image.fromarray(big).save(path, quality=95)
    image = read_image(str(path), max_pixels=100_000)
    assert image.scale == 0.5 and image.rgb.shape == (200, 400, 3)
    assert image.size == (800, 400)
    assert image.notes == ('decoded at 1/2 size (800 x 400 is over the '
                           'limit)', )
    assert image.rgb[:, :190, 0].mean() > 200
    assert image.rgb[:, 210:].max() < 60
    assert read_image(str(path), max_pixels=30_000).scale == 0.25
    png = tmp_path / 'big.png'
    Image.fromarray(big).save(png)
    with pytest.raises(ImageReadError, match=r'800 x 400 = 0 megapixels, '
                       r'over the limit of 0 \(--max-pixels\)'):
        read_image(str(png), max_pixels=100_000)
    assert read_image(str(png)).rgb.shape == (400, 800, 3)
