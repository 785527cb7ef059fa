"""Model folders and checkpoints in each library's real format, with random weights,
made on the spot so the real loading code runs on a machine that cannot download."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

# The structure of speechbrain/spkrec-ecapa-voxceleb's hyperparams.yaml, including its
# hub `pretrained_path` (sgtui must override it, never fetch it). Smaller classifier.
ECAPA_YAML = """\
n_mels: 80
pretrained_path: speechbrain/spkrec-ecapa-voxceleb
out_n_neurons: 10

compute_features: !new:speechbrain.lobes.features.Fbank
    n_mels: !ref <n_mels>

mean_var_norm: !new:speechbrain.processing.features.InputNormalization
    norm_type: sentence
    std_norm: False

embedding_model: !new:speechbrain.lobes.models.ECAPA_TDNN.ECAPA_TDNN
    input_size: !ref <n_mels>
    channels: [1024, 1024, 1024, 1024, 3072]
    kernel_sizes: [5, 3, 3, 3, 1]
    dilations: [1, 2, 3, 4, 1]
    attention_channels: 128
    lin_neurons: 192

classifier: !new:speechbrain.lobes.models.ECAPA_TDNN.Classifier
    input_size: 192
    out_neurons: !ref <out_n_neurons>

mean_var_norm_emb: !new:speechbrain.processing.features.InputNormalization
    norm_type: global
    std_norm: False

modules:
    compute_features: !ref <compute_features>
    mean_var_norm: !ref <mean_var_norm>
    embedding_model: !ref <embedding_model>
    mean_var_norm_emb: !ref <mean_var_norm_emb>
    classifier: !ref <classifier>

label_encoder: !new:speechbrain.dataio.encoder.CategoricalEncoder

pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        embedding_model: !ref <embedding_model>
        mean_var_norm_emb: !ref <mean_var_norm_emb>
        classifier: !ref <classifier>
        label_encoder: !ref <label_encoder>
    paths:
        embedding_model: !ref <pretrained_path>/embedding_model.ckpt
        mean_var_norm_emb: !ref <pretrained_path>/mean_var_norm_emb.ckpt
        classifier: !ref <pretrained_path>/classifier.ckpt
        label_encoder: !ref <pretrained_path>/label_encoder.txt
"""


def make_ecapa_folder(folder: Path) -> dict:
    """A spkrec-ecapa-voxceleb-shaped folder; returns the embedding model's state dict."""
    import torch

    from sgtui.features.compat import import_speechbrain

    import_speechbrain()
    from hyperpyyaml import load_hyperpyyaml
    from speechbrain.utils.checkpoints import DEFAULT_SAVE_HOOKS, get_default_hook

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "hyperparams.yaml").write_text(ECAPA_YAML)
    torch.manual_seed(0)
    hp = load_hyperpyyaml(ECAPA_YAML)
    hp["label_encoder"].update_from_iterable([f"spk{i}" for i in range(10)])
    for name, obj in hp["pretrainer"].loadables.items():
        suffix = ".txt" if name == "label_encoder" else ".ckpt"
        # Give the global embedding normaliser real statistics to save.
        if name == "mean_var_norm_emb":
            obj(torch.randn(8, 1, 192), torch.ones(8))
        get_default_hook(obj, DEFAULT_SAVE_HOOKS)(obj, folder / f"{name}{suffix}")
    return {k: v.clone() for k, v in hp["embedding_model"].state_dict().items()}


def make_anime_checkpoint(path: Path) -> dict:
    """An embedding_model.pth as anime-speaker-embedding loads it (random weights)."""
    import torch

    from sgtui.features.compat import import_speechbrain

    import_speechbrain()
    from anime_speaker_embedding import AnimeSpeakerEmbedding

    empty = path.with_name("empty.pth")
    torch.save({}, empty)
    torch.manual_seed(1)
    with contextlib.redirect_stdout(io.StringIO()):  # the package prints what it loads
        model = AnimeSpeakerEmbedding(ckpt_path=empty, device="cpu")  # random init (strict=False)
    state = model.state_dict()
    torch.save(state, path)
    empty.unlink()
    return state


TINY_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def make_clip_folder(folder: Path) -> dict:
    """An open_clip model folder (open_clip_config.json + weights) as open_clip writes it
    for the hub; returns the model's state dict."""
    import torch

    from sgtui.features.compat import import_open_clip

    open_clip = import_open_clip()
    from open_clip.push_to_hf_hub import save_config_for_hf
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    cfg_file = folder.parent / "sgtui-tiny-clip.json"
    cfg_file.write_text(json.dumps(TINY_CLIP))
    open_clip.add_model_config(cfg_file)
    torch.manual_seed(2)
    model = open_clip.create_model("sgtui-tiny-clip")
    state = model.state_dict()
    save_file(state, folder / "open_clip_model.safetensors")
    save_config_for_hf(model, folder / "open_clip_config.json", model_config=TINY_CLIP)
    return state
