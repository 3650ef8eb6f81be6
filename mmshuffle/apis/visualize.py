"""Predictions drawn on the image they were made on."""


def _font(size):
    from PIL import ImageFont
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def draw(rgb, predictions, task, score_thr, palette=None, scale=1.0):
    """The decoded image ``rgb`` with its ``predictions`` (of
    :class:`~.inference.Predictor`) drawn on it, as a Pillow image:
    detection, the boxes scoring at least ``score_thr`` with class and
    score (boxes are in file pixels: ``scale`` maps them to the array's);
    classification, the top-5."""
    from PIL import Image, ImageDraw
    image = Image.fromarray(rgb)
    canvas = ImageDraw.Draw(image)
    size = max(12, min(image.size) // 28)
    font = _font(size)
    if task == 'detection':
        width = max(2, min(image.size) // 160)
        for det in reversed(predictions):  # the best drawn last, on top
            if det['score'] < score_thr:
                continue
            color = palette[det['label'] % len(palette)] if palette else \
                (255, 64, 64)
            x1, y1, x2, y2 = (v * scale for v in det['bbox'])
            canvas.rectangle([x1, y1, x2, y2], outline=color, width=width)
            text = f'{det["class_name"]} {det["score"]:.2f}'
            left, top, right, bottom = canvas.textbbox((0, 0), text,
                                                       font=font)
            ty = y1 - (bottom - top) - 4 if y1 - (bottom - top) - 4 >= 0 \
                else y1
            canvas.rectangle([x1, ty, x1 + right - left + 4,
                              ty + bottom - top + 4], fill=color)
            canvas.text((x1 + 2, ty + 2 - top), text, fill=(255, 255, 255),
                        font=font)
    else:
        lines = [f'{p["class_name"]} {p["score"]:.3f}' for p in predictions]
        boxes = [canvas.textbbox((0, 0), ln, font=font) for ln in lines]
        line_h = max(b[3] - b[1] for b in boxes) + 4
        panel_w = max(b[2] - b[0] for b in boxes) + 8
        overlay = Image.new('RGBA', image.size, (0, 0, 0, 0))
        ImageDraw.Draw(overlay).rectangle(
            [0, 0, panel_w, line_h * len(lines) + 4], fill=(0, 0, 0, 160))
        image = Image.alpha_composite(image.convert('RGBA'),
                                      overlay).convert('RGB')
        canvas = ImageDraw.Draw(image)
        for i, (line, box) in enumerate(zip(lines, boxes)):
            canvas.text((4, 4 + i * line_h - box[1]), line,
                        fill=(255, 255, 255) if i else (255, 220, 0),
                        font=font)
    return image
