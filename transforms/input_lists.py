"""Feed and URL lists read inside the pipeline, not put into the job graph.

``beam.Create(list)`` pickles every element into the pipeline definition: a list of 1M URLs
makes a graph of tens of MB, over Dataflow's limit and slow on every runner. Here only the
file's path is in the graph; workers read the file (any Beam filesystem path). URL lists are
read line by line with numbers, so a line that is not a URL is a reject row naming the file and
line (stage ``input``, reason ``invalid_url``) instead of ending the run, and a list of any size
is read in bounded memory. A feed list (OPML/YAML/text, small) is parsed whole by one worker;
the launcher still parses it once first so a broken feed list is a usage error (exit 2).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.metrics import Metrics

from transforms.feeds import load_feed_list
from transforms.lines import numbered_lines
from transforms.rejects import REJECTS, reject

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://\S+$")


class ParseUrlLines(beam.DoFn):
    """A matched URL list -> one request per URL line; blank and ``#`` lines are skipped."""

    def __init__(self):
        self.listed = Metrics.counter("input", "listed_urls")

    def process(self, readable: fileio.ReadableFile) -> Iterator:
        path = readable.metadata.path
        with readable.open() as stream:
            for number, raw, _ in numbered_lines(stream):
                line = raw.decode("utf-8", "replace").lstrip("\ufeff").strip()
                if not line or line.startswith("#"):
                    continue
                self.listed.inc()
                if _URL.match(line):
                    yield {"url": line, "source_kind": "url"}
                else:
                    yield reject({"url": line[:2000], "source_kind": "url",
                                  "input_id": f"{path}#L{number}"}, "input", "invalid_url",
                                 f"{path}:{number}: not a URL: {line[:200]!r}")


class _ReadListFile(beam.PTransform):
    """Reads the list file at ``path``: only the path goes into the job graph."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path


class ReadUrlList(_ReadListFile):
    """A URL list file -> ``requests`` (url, source_kind) and ``rejects``."""

    def expand(self, pbegin):
        return (
            pbegin
            | "MatchUrlList" >> fileio.MatchFiles(self.path)
            | "OpenUrlList" >> fileio.ReadMatches()
            | "UrlLines" >> beam.ParDo(ParseUrlLines()).with_outputs(REJECTS, main="requests")
        )


class ReadFeedList(_ReadListFile):
    """A feed list file -> one request per distinct feed URL (the file is read by a worker)."""

    def expand(self, pbegin):
        return (
            pbegin
            | "FeedListPath" >> beam.Create([self.path])
            | "FeedUrls" >> beam.FlatMap(load_feed_list)
            | "DistinctFeeds" >> beam.Distinct()
            | "FeedRequests" >> beam.Map(
                lambda u: {"url": u, "source_kind": "feed_list", "feed_url": u})
        )
