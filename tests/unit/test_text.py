"""Display text: arXiv LaTeX rendered as Unicode (digest.latex) and length caps (digest.text),
on real abstracts from the July 2026 arXiv corpus (tests/data/latex/) and on hostile text."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digest.latex import latex_to_text
from digest.models import Paper, RankedPaper
from digest.text import (
    ABSTRACT_CHARS, BYLINE_CHARS, NAME_CHARS, ORGANIZATION_CHARS, TITLE_CHARS, display_abstract, display_byline,
    display_ranked, display_snippet, display_title, for_display, rendered, shorten,
)


@pytest.fixture(scope="module")
def corpus(data_dir) -> dict[str, dict]:
    lines = (data_dir / "latex" / "arxiv-abstracts.jsonl").read_text(encoding="utf-8").splitlines()
    return {item["id"]: item for item in map(json.loads, lines)}


@pytest.mark.parametrize("raw,shown", [
    (r"achieves 6.01$\times$ speedup", "achieves 6.01× speedup"),
    (r"enhances \textbf{adaptability} and \emph{robustness}", "enhances adaptability and robustness"),
    (r"Demos at https://swanaigc.github.io/\#swantale.", "Demos at https://swanaigc.github.io/#swantale."),
    (r"in $\mathcal{O}(n^2)$ time", "in 𝒪(n²) time"),
    (r"Schr{\"o}dinger bridges, G\"odel, \'{e}t\'e, \v{S}koda", "Schrödinger bridges, Gödel, été, Škoda"),
    ("Fig.~3 and Lean~4", "Fig. 3 and Lean 4"),
    ("a bound -- tight --- and new", "a bound – tight — and new"),
    (r"$x_{i}^{2}$, $10^{-3}$, $x^{n+1}$, $a_{ij}$, $W^\top$, $f^\prime$", "xᵢ², 10⁻³, xⁿ⁺¹, aᵢⱼ, Wᵀ, f′"),
    (r"$\theta_{\text{old}}$ and $e^{i\pi}$", "θ_old and e^(iπ)"),
    (r"$\frac{n+1}{2}$ and $\frac{1}{2}$, $\sqrt{n}$, $\mathbb{R}^d$", "(n+1)/2 and 1/2, √(n), ℝᵈ"),
    (r"$\log n$, $2\pi r$, $x \leq 3$, $d\log S$", "log n, 2πr, x ≤ 3, d log S"),
    ("50% of the data and 30\\% more", "50% of the data and 30% more"),
    ("~10k samples, approx. ~ 5", "~10k samples, approx. ~ 5"),
    (r"\method{} beats \ours on \revise{Type 2 diabetes}", "method beats ours on Type 2 diabetes"),
    (r"\href{https://github.com/x/y}{code}, \url{https://a.org/b_c}", "code (https://github.com/x/y), https://a.org/b_c"),
    (r"R&D, Q\&A, A\_B, \$5", "R&D, Q&A, A_B, $5"),
    ("costs exceeding $10,000 for a run; $5 and $10", "costs exceeding $10,000 for a run; $5 and $10"),
    ("from {1,2,4,8} bits over 3{,}145 questions", "from {1,2,4,8} bits over 3,145 questions"),
    ("the EU AI Act\\'92s regime", "the EU AI Act’s regime"),
    (r"\texttt{Llama-3.2-1B} with $\textsf{SGD}$, $\mathsf{DQC}_1$", "Llama-3.2-1B with SGD, DQC₁"),
    (r"as shown \cite{smith2020} \eg, here", "as shown e.g., here"),
    (r"``quoted'' words", "“quoted” words"),
    ("hard\nwrapped  lines\n\nand a paragraph", "hard wrapped lines\n\nand a paragraph"),
])
def test_latex_is_rendered_as_unicode(raw, shown):
    assert latex_to_text(raw) == shown


@pytest.mark.parametrize("raw", [
    "an unclosed {brace and $math",
    r"\textbf{never closed",
    r"\begin{itemize} no end",
    r"\sqrt",
    "a stray } brace",
    "$",
    "{",
    r"\\",
])
def test_malformed_latex_keeps_every_word(raw):
    shown = latex_to_text(raw)
    assert re.findall(r"[A-Za-z]{2,}", shown) == [w for w in re.findall(r"[A-Za-z]{2,}", raw)
                                                  if w not in ("textbf", "begin", "sqrt", "itemize")] or shown == raw


def test_a_stray_brace_does_not_keep_the_rest_raw():
    assert latex_to_text(r"unimprovable.} \rev{Second}, a 6$\times$ gain") == "unimprovable.} Second, a 6× gain"


def test_text_without_markup_comes_back_as_it_is():
    plain = "Plain words, 50% more, a_b and x^2 stay as written."
    assert latex_to_text(plain) is plain


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(["\\", "$", "{", "}", "~", "^", "_", "%", "--", "''", "`", "\\textbf{", "\\frac",
                                 "$\\times$", "\\href{", "\\begin{x}", "\\'", "a", "b ", "1", " ", "\n", "é", "\ue000",
                                 "https://x.org/~a", "\\#", "\\unknown"]), max_size=30).map("".join))
def test_arbitrary_latex_like_text_never_raises(text):
    assert isinstance(latex_to_text(text), str)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab xy12$~{}-'`\n%.,"), max_size=60))
def test_without_macros_no_letter_is_lost(text):
    """Dollars, braces, ties and dashes change; letters and digits keep their order."""
    shown = latex_to_text(text)
    assert re.findall(r"[a-z0-9]", shown) == re.findall(r"[a-z0-9]", text)


# --- real abstracts ---------------------------------------------------------------------------


def test_real_abstracts_show_no_latex(corpus):
    for item in corpus.values():
        for raw in (item["title"], item["summary"]):
            shown = rendered(raw)
            leftovers = re.findall(r"\$\\|\\(?:textbf|emph|times|mathcal|frac|sim|href|texttt)\b|\\[#%&_]", shown)
            assert not leftovers, (item["id"], leftovers)


@pytest.mark.parametrize("paper_id,expected", [
    ("2606.31114", "an 8× improvement in vulnerability discovery"),
    ("2607.00773", "from 𝒪(d log S) to 𝒪(log (d log S)·log d)"),
    ("2607.00773", "the mainstream τ-leaping algorithm"),
    ("2607.00252", "a parameter vector in ℝᵈ"),
    ("2607.03791", "(1+2η/OPT)-approximation algorithms"),
    ("2607.02507", "from a ∼3% baseline"),
    ("2606.31808", "costs exceeding $10,000 for a single set"),
    ("2607.21345", "the EU AI Act’s cross-sectoral regime"),
    ("2606.31422", "We introduce method, a budgeted probing operator"),
    ("2606.30899", "poisoned variants of Llama-3.2-1B-Instruct with"),
    ("2607.00581", "Our code (https://github.com/feuerwerksh/Diffble-card-SR) is publicly available."),
])
def test_real_abstracts_read_well(corpus, paper_id, expected):
    assert expected in rendered(corpus[paper_id]["summary"])


def test_real_abstracts_lose_no_word(corpus):
    """Every word outside maths and macro names is still there after rendering."""
    for item in corpus.values():
        raw = re.sub(r"\$[^$]*\$|\\[A-Za-z]+", " ", item["summary"])
        shown = set(re.findall(r"[A-Za-z]{3,}", rendered(item["summary"])))
        assert [w for w in re.findall(r"[A-Za-z]{3,}", raw) if w not in shown] == [], item["id"]


def test_real_author_names_with_braced_accents(corpus):
    paper = Paper(corpus["2607.22149"]["title"], authors=tuple(corpus["2607.22149"]["authors"]))
    assert for_display(paper).authors[:3] == ("Léo Nicollier", "Marc Pic", "Pablo Musé")


def test_real_title_with_math(corpus):
    assert display_title(Paper(corpus["2606.31029"]["title"])).startswith("TerraDiT-Ω: Unified Spatial Control")


# --- caps, copies, snippets -------------------------------------------------------------------


def huge_paper() -> Paper:
    return Paper(
        title="Attention " * 10_000, abstract=("A long sentence about $\\times$ things. " * 5_000),
        authors=("Q" * 1_000,) * 2_000, organization="Org " * 1_000, key="arxiv:2601.00001",
        links={"abs": "https://arxiv.org/abs/2601.00001"}, id=7,
    )


def test_display_caps_every_field():
    paper = huge_paper()
    shown = for_display(paper)
    assert len(shown.title) <= TITLE_CHARS and shown.title.endswith("…")
    assert len(shown.abstract) <= ABSTRACT_CHARS and shown.abstract.endswith("…") and "$" not in shown.abstract
    assert all(len(name) <= NAME_CHARS for name in shown.authors) and len(shown.authors) == 2_000
    assert len(shown.organization) <= ORGANIZATION_CHARS
    assert len(display_byline(paper)) <= BYLINE_CHARS
    assert (shown.key, shown.links, shown.id) == (paper.key, paper.links, paper.id)
    assert paper.title.startswith("Attention Attention") and len(paper.title) == 100_000  # the stored copy


def test_ten_huge_papers_stay_far_below_gmails_clip():
    shown = [for_display(huge_paper()) for _ in range(10)]
    text = "".join(p.title + display_byline(p) + p.abstract[:300] for p in shown)
    assert len(text.encode()) < 20_000


def test_shorten_cuts_at_a_word():
    assert shorten("one two three four", 12) == "one two…"
    assert shorten("short", 12) == "short"
    assert shorten("x" * 50, 10) == "x" * 9 + "…"


def test_display_functions_on_empty_fields():
    paper = Paper("")
    assert (display_title(paper), display_abstract(paper), display_byline(paper)) == ("", "", "")
    assert for_display(Paper("T", organization=None)).organization is None


def test_snippet_keeps_its_marks_and_escaping():
    snippet = "gives 6.01$\\times$ <b>speedup</b> when x &lt; y &amp; \\textbf{<b>adaptability</b>}"
    assert display_snippet(snippet) == "gives 6.01× <b>speedup</b> when x &lt; y &amp; <b>adaptability</b>"


def test_snippet_is_left_alone_when_a_mark_would_be_lost():
    snippet = "as in \\cite{<b>smith</b>} and $\\times$"
    assert display_snippet(snippet) == snippet


def test_display_ranked_renders_paper_and_snippet():
    item = RankedPaper(Paper("A $\\times$ B", "x"), 1.5, ("b",), "a $\\times$ <b>b</b>")
    shown = display_ranked(item)
    assert (shown.paper.title, shown.snippet, shown.score) == ("A × B", "a × <b>b</b>", 1.5)
    assert item.paper.title == "A $\\times$ B"


def test_repeat_renders_come_from_the_cache():
    text = "A unique $\\alpha_{cache}$ text"
    before = rendered.cache_info().hits
    assert rendered(text) == rendered(replace(Paper(text)).title) == "A unique α_cache text"
    assert rendered.cache_info().hits == before + 1


def test_a_field_of_markup_only_still_shows_something():
    assert display_title(Paper("{}")) == "{}"
    assert display_abstract(Paper("T", abstract=" $$ ")) == "$$"
