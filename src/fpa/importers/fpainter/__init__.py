"""Import the authors' trained FPAs (github IDSIA/fpainter) as fpa generators and run folders,
in three steps: reading their checkpoint and the generator's sizes (:mod:`.read`, with the
model types in :mod:`.model_types`), mapping it onto an fpa generator (:mod:`.mapping`,
in memory: :func:`load_fpainter`), and writing a run folder through the run-folder code that
training uses (:mod:`.write`: :func:`import_fpainter`).

Their U-Net models also list every generator module a second time under ``mod_dict.*``
(parameter groups); those aliases are skipped.

What their generators compute (``painter.py``: ``LSTMDeltaGenerator``,
``LSTMDeltaTimeSplitLatentGeneratorV2`` and the ``...Unet`` variants), in fpa's terms:

- controller: an LSTM (``decoder_rnn``) over T steps. v1 (``lstm_delta*``) feeds ``z`` at every
  step; v2 (``lstm_delta_split_v2*``) feeds ``per_time_linear_input(act(input_generator(z)))``
  viewed as T codes, with ``act`` = tanh under their ``--v2_input_sigmoid``. The initial
  ``(h, c)`` is ``latent_to_init(z)`` split in two halves (always for v1, with
  ``--use_latent_to_init`` for v2) — fpa's ``lstm`` painter with ``input_mode``.
- head: ``kvb_net`` emits, per step, the keys of all channels, then all values, then all rates
  (rows ordered part, channel, index); fpa's head orders them channel, part, index, so the rows
  are permuted on import. Keys softmax (``--use_softmax``), rates sigmoid, values optionally
  tanh (``--val_tanh``); one rate per step, or per row (``--vect_lr``).
- rule: the delta rule; the first step writes ``v_1 k_1ᵀ`` without the rate
  (``first_step_unit_rate``), unless a learned initial matrix (``learned_init``) is the start.
- output: ``tanh(M_T)`` under ``--out_tanh``; the U-Net models feed ``tanh(M_T)`` (under
  ``--unet_tanh``) to their U-Net and take ``tanh`` of its output — the ``fpainter-unet`` refiner.
- pixels: their data loader gives images in [0, 1] (no normalisation), so their outputs are
  [0, 1] pixels; the output activations ``unit-tanh``/``unit-none`` and the refiner map them
  onto fpa's [-1, 1] (``2·y − 1``), and fpa's writers clamp, as their ``generate`` clamps to
  [0, 1].

The training flags above are not stored in a checkpoint: :class:`FpainterFlags` holds them, with
the values of the authors' published scripts as defaults. Sizes are read from the weights.
"""

from fpa.importers.fpainter.load import FpainterImport, load_fpainter
from fpa.importers.fpainter.mapping import FpainterFlags
from fpa.importers.fpainter.model_types import MODEL_TYPES, SUPPORTED_TYPES, FpainterImportError
from fpa.importers.fpainter.write import import_fpainter

__all__ = [
    "MODEL_TYPES",
    "SUPPORTED_TYPES",
    "FpainterFlags",
    "FpainterImport",
    "FpainterImportError",
    "import_fpainter",
    "load_fpainter",
]
