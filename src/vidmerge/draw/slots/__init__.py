"""Slot kinds, a family: one module per kind, each implementing the protocol in `base.py`.

    base.py    the fields every slot has, the protocol, and the registry of kinds
    text.py    TextSlot: an expression rendered to text
    number.py  NumberSlot: a formatted number, optionally counting up
    image.py   ImageSlot: a picture from the bundle's assets

Importing this package registers the built-in kinds. A new kind is a new module with a
registered subclass of `Slot` (and its docs and tests); nothing else changes.
"""

from __future__ import annotations

from vidmerge.draw.slots.base import KINDS, Box, Colour, Slot, Style, register
from vidmerge.draw.slots.image import ImageSlot
from vidmerge.draw.slots.number import NumberSlot
from vidmerge.draw.slots.text import TextSlot

__all__ = ["KINDS", "Box", "Colour", "ImageSlot", "NumberSlot", "Slot", "Style", "TextSlot", "register"]
