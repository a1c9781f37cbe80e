"""A model taught to prefer a different label for each face: exactness checks that can fail.

The recipe `cer bench lvlm` and the remote tests share: only the output layer of a
locally built Qwen2-VL learns, to answer face i with RAF-DB compound label i followed by the
end-of-answer token, so the closed-set log-likelihoods spread over more than a nat and differ
between faces.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def astronaut_faces(n: int) -> list[np.ndarray]:
    """n different 224x224 crops of scikit-image's astronaut photo around her face."""
    import cv2
    from skimage import data

    img = np.ascontiguousarray(data.astronaut())
    out = []
    for i in range(n):
        x, y, s = 150 + 6 * i, 30 + 4 * i, 200 - 4 * i
        crop = img[y : y + s, x : x + s]
        out.append(cv2.resize(crop, (224, 224), interpolation=cv2.INTER_AREA))
    return out


def teach_labels(
    model: Any, processor: Any, faces: list[np.ndarray], steps: int, log: dict | None = None
) -> Any:
    """Teach the output layer to answer face i with compound label i, then the end token.

    Only the output layer learns (a linear read-out of the decoder's final states), so the
    decoder runs once per (face, answer) and the steps are cheap. `log` receives the number of
    steps run and the first and last loss.
    """
    import torch
    import torch.nn.functional as F

    from cer_desktop.labels import RAF_COMPOUND
    from cer_desktop.recognition.lvlm.encoding import ImageLimits, encode_training_batch
    from cer_desktop.recognition.lvlm.prompts import prompt_for
    from cer_desktop.recognition.lvlm.scoring import to_model

    prompt = prompt_for(RAF_COMPOUND)
    answers = [RAF_COMPOUND.labels[i % len(RAF_COMPOUND)] for i in range(len(faces))]
    batch = encode_training_batch(processor, faces, answers, RAF_COMPOUND, prompt, ImageLimits())
    inputs = to_model(batch, model)
    labels = inputs.pop("labels")
    with torch.no_grad():
        hidden = model.model(**inputs).last_hidden_state
    rows, cols = (labels[:, 1:] != -100).nonzero(as_tuple=True)  # state t predicts token t+1
    states = hidden[rows, cols].detach()
    targets = labels[rows, cols + 1]
    head = model.get_output_embeddings()
    for p in model.parameters():
        p.requires_grad_(False)
    head.weight.requires_grad_(True)
    opt = torch.optim.Adam([head.weight], lr=5e-3)
    losses: list[float] = []
    for _ in range(steps):
        loss = F.cross_entropy(head(states).float(), targets)
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(float(loss.detach()))
        if losses[-1] < 0.05:
            break
    head.weight.requires_grad_(False)
    if log is not None:
        log["teach_steps_run"] = len(losses)
        log["teach_loss_first"] = round(losses[0], 3) if losses else None
        log["teach_loss_last"] = round(losses[-1], 3) if losses else None
    return model.eval()
