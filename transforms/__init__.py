"""Composable Beam transforms of newsflow, one concern per module (see DESIGN.md §2).

Importing the package (as every worker does to unpickle our DoFns) makes Beam's S3
filesystem share its boto3 clients in the process (``transforms/s3_clients.py``), Beam
remember its DoFn and options introspections (``transforms/beam_memo.py``) and end its bundles
without waiting out their state sampler's sleep (``transforms/bundle_sampler.py``)."""

from transforms import beam_memo, bundle_sampler
from transforms.s3_clients import share_s3_clients

share_s3_clients()
beam_memo.install()
bundle_sampler.install()
