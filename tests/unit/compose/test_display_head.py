"""The paper head's display copy (text.for_display(paper, abstract=False)) is the display copy of
the paper without its abstract, as the Composer made it before, on tricky text."""

from __future__ import annotations

import dataclasses

import pytest

from digest.models import Paper
from digest.text import for_display

PAPERS = [
    Paper(title="Bounds of $\\mathcal{O}(n^2)$ via \\textbf{pooling} -- 6.01$\\times$", abstract="Has $x^2$ math " * 50,
          authors=("Jos{\\'e} N\\'u\\~nez", "Ada Lovelace"), organization="Lab {\\&} Co", id=1, key="k1"),
    Paper(title="Naïve café — 東京 🙂\x1f résumé " + "w" * 600, abstract="", authors=(), id=2),
    Paper(title="{}", abstract=None, authors=("x" * 300,), organization="", id=None, key=None),
]


@pytest.mark.parametrize("paper", PAPERS)
def test_for_display_without_abstract_is_the_copy_of_the_paper_without_one(paper):
    assert for_display(paper, abstract=False) == for_display(dataclasses.replace(paper, abstract=""))
    assert for_display(paper, abstract=False).abstract == ""
