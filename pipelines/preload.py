"""The models a stream's DoFns load, loaded before its first poll.

A stream's memory should be flat from its first poll on: the models (py3langid, the spaCy
models of ``transforms/entities.MODELS`` and jieba, the e5 embedder when translations are
detected) are built once per process by their cached loaders (``transforms/per_process.py``),
so loading them ahead through those same loaders, with the arguments the DoFns pass, makes
each ``DoFn.setup`` (and the first article of each language) a cache hit. This only helps
where the launcher's process is the worker: Beam's in-process runners. On Dataflow, Flink or
Prism each worker process loads the models itself (``DoFn.setup``; spaCy at a language's first
article), and a launcher-side load would only cost the launcher memory.
"""

from __future__ import annotations

import logging
import time

from pipelines.options import NewsflowOptions

LOG = logging.getLogger(__name__)


def preload_models(opts: NewsflowOptions, embedder: bool = True) -> dict[str, float]:
    """Loads every model the run's transforms use (the embedder only if ``embedder``: the
    record pool's workers do not embed); returns the CPU seconds each took."""
    from transforms.embedding import load_embedder, threads_per_process
    from transforms.enrich import LanguageIdentifier
    from transforms.entities import EntityRecognizer, chinese_tagger

    took: dict[str, float] = {}

    def timed(name: str, load) -> None:
        started = time.process_time()
        load()
        took[name] = round(time.process_time() - started, 2)

    timed("langid", LanguageIdentifier)
    recognizer = EntityRecognizer()
    for lang in sorted(recognizer.models):
        timed(f"spacy:{lang}", lambda lang=lang: recognizer.model(lang))
    timed("jieba", chinese_tagger)
    if embedder and "translation" in opts.levels():
        # the arguments ``EmbedSegments.setup`` passes in a stream (one SDK process)
        timed(f"embedder:{opts.embedder}",
              lambda: load_embedder(opts.embedder, threads_per_process(1)))
    LOG.info("models loaded ahead (CPU s): %s", took)
    return took


#: One short text per script the entity code treats apart (Latin, Japanese, Chinese).
WARM_UP_TEXTS = {
    "en": "The mayor of Berlin, Anna Schmidt, met Reuters reporters in London on Monday.",
    "fr": "Le maire de Paris a rencontré des journalistes de l'AFP à Lyon lundi.",
    "de": "Der Bürgermeister von Berlin traf am Montag Journalisten des ZDF in München.",
    "ja": "東京都の知事は月曜日に大阪で記者と会った。",
    "zh": "北京市市长周一在上海会见了新华社记者。",
}


def warm_up_enrichment() -> float:
    """Enriches a few short texts and throws the result away, so that the tables enrichment
    builds at its first use (place and person names, outlets, stopwords) exist in this process
    before the record pool forks: built once, not once per worker (py-spy: each worker read
    the geonames file itself). Returns the CPU seconds it took."""
    from transforms.enrich import LanguageIdentifier, enrich_batch
    from transforms.entities import EntityRecognizer

    started = time.process_time()
    records = [{"url": f"https://warm-up.invalid/{lang}", "text": " ".join([text] * 3),
                "title": text[:40], "source_kind": "warc"}
               for lang, text in WARM_UP_TEXTS.items()]
    enrich_batch(records, LanguageIdentifier(), EntityRecognizer(), "warm-up")
    return round(time.process_time() - started, 2)
