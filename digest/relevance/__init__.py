"""Relevance: rank papers for a subscriber from the papers they liked (pure: no database, no I/O
beyond reading the WordLlama model files shipped inside the `wordllama` wheel).

Wiring (what ingest, the planner, the CLI and the emails call)::

    from digest import relevance as rel

    # ingest, in batches (>= 1,000 papers/s on one core); store under rel.MODEL
    blobs = rel.featurize_papers(papers)            # list[bytes], one per Paper
    feats = [rel.decode(b) for b in blobs]          # PaperFeatures (rel.featurize skips the bytes)

    # corpus statistics: build from the first BACKGROUND_SIZE papers (by id) with features
    bg = rel.Background.build(feats_of_first_papers, ids=their_ids)   # bg.version: str
    day = bg.prepare(candidate_feats, ids=candidate_ids)              # once per run, shared

    # a profile, refit only when the digest differs from profile_models.labels_digest
    digest = rel.labels_digest(liked_ids, disliked_ids, implicit_ids, background=bg.version)
    profile = rel.fit_profile(bg, bg.prepare(liked_feats, liked_ids),
                              disliked=bg.prepare(disliked_feats, disliked_ids))  # None if no like
    data = profile.to_bytes(); profile = rel.Profile.from_bytes(data)        # profile.model

    # ranking: one (profiles x candidates) matrix of learned scores, then fusion and reasons
    learned = rel.score_profiles(profiles, day)            # ndarray (P, N), z-units
    final = rel.fuse_scores(learned[i], bm25_or_None)      # exclusions: the caller filters
    top = np.argsort(-final)[:10]
    why = rel.explain(profiles[i], day, top, learned=learned[i], keyword=bm25_or_None)
    # why[j].liked_id names the liked paper; say "like <title>" when why[j].by_similarity

No query and no likes: the caller ranks by upvotes as before. Only a query: BM25 as before.

Representation (chosen on the benchmark's dev split, see tests/benchmarks/bench_relevance.py):
stored per paper are two stateless bags: hashed word uni+bigrams of title, abstract and
authors (2**18 buckets) and the WordLlama tokenizer's token counts. Nothing corpus-dependent is
stored with a paper, so features never need recomputing when other papers arrive; `MODEL`
changes when the featuriser does (stored rows of another model are stale: reindex). IDF and
the mean vector are corpus statistics, kept in a `Background` built deterministically from the
oldest papers (`background.py` says why that needs no table). At scoring time the words become
TF-IDF (sublinear tf, l2) and the tokens an IDF-weighted mean of WordLlama vectors, centred
and normalised. A profile holds three linear views (`profile.py`): an SVM on the words, a
logistic regression and a centroid on the dense vectors, fused by z-scores (`scoring.py`).
"""

from digest.relevance.background import BACKGROUND_SIZE, Background, Candidates
from digest.relevance.features import MODEL, PaperFeatures, decode, encode, featurize, featurize_papers
from digest.relevance.profile import Profile, fit_profile, labels_digest
from digest.relevance.scoring import KEYWORD_WEIGHT, Because, explain, fuse_scores, score_profiles

__all__ = ["BACKGROUND_SIZE", "Background", "Because", "Candidates", "KEYWORD_WEIGHT", "MODEL", "PaperFeatures",
           "Profile", "decode", "encode", "explain", "featurize", "featurize_papers", "fit_profile", "fuse_scores",
           "labels_digest", "score_profiles"]
