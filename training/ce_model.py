"""The cross-encoder in torch: MiniLM reads ``[CLS] query [SEP] region [SEP]`` jointly, one logit out.

Head: ``scale * cos(mean(query-part states), mean(region-part states)) + w . h[CLS] + b`` over
the last layer of the *joint* encoding (every query token attends to the region and back).
At the start (``scale`` 10, ``w`` 0) that is the bundled sentence model's own similarity,
read in context: the run starts from a ranking that beats chance, where a fresh
``AutoModelForSequenceClassification`` head sits on MiniLM's untrained pooler (outputs
~0.05) and its loss did not leave ln(8) in 45 steps of 8 groups here.

Saved as a directory: the BERT weights (``save_pretrained``), ``ce_head.pt``, the tokenizer
files and ``ce.json`` (lengths). Imports torch: only training, export and tests load it.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoModel

HEAD = "ce_head.pt"


class CrossEncoder(torch.nn.Module):
    def __init__(self, bert, scale: float = 10.0):
        super().__init__()
        self.bert = bert
        self.scale = torch.nn.Parameter(torch.tensor(float(scale)))
        self.cls = torch.nn.Linear(bert.config.hidden_size, 1)
        torch.nn.init.zeros_(self.cls.weight)
        torch.nn.init.zeros_(self.cls.bias)

    def forward(self, input_ids, attention_mask, token_type_ids):
        h = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                      token_type_ids=token_type_ids).last_hidden_state
        mask = attention_mask.to(h.dtype)
        q = mask * (token_type_ids == 0).to(h.dtype)
        r = mask * (token_type_ids == 1).to(h.dtype)
        mq = (h * q.unsqueeze(-1)).sum(1) / q.sum(1, keepdim=True).clamp(min=1.0)
        mr = (h * r.unsqueeze(-1)).sum(1) / r.sum(1, keepdim=True).clamp(min=1.0)
        cos = torch.nn.functional.cosine_similarity(mq, mr, dim=-1)
        return self.scale * cos + self.cls(h[:, 0]).squeeze(-1)

    def save(self, path: str | Path) -> None:
        path = Path(path)
        self.bert.save_pretrained(str(path))
        torch.save({"scale": self.scale.detach().clone(), "cls": self.cls.state_dict()}, path / HEAD)


def load(path: str | Path) -> CrossEncoder:
    """A saved cross-encoder, or a fresh head on a sentence model's BERT (no ``ce_head.pt``)."""
    path = Path(path)
    model = CrossEncoder(AutoModel.from_pretrained(str(path), add_pooling_layer=False))
    if (path / HEAD).exists():
        state = torch.load(path / HEAD, weights_only=True)
        with torch.no_grad():
            model.scale.copy_(state["scale"])
        model.cls.load_state_dict(state["cls"])
    return model
