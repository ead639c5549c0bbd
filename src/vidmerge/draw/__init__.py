"""What is drawn: the values as drawn (values.py) and what a refusal suggests (hints.py), the
slot kinds (slots/), text layout (typography.py) and the layers laid over a segment (layers.py)."""
