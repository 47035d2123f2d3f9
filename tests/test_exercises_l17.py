"""The checks of lesson 17: a correct answer passes, a wrong one and the shipped stub fail clearly."""
from __future__ import annotations

from torch import nn

from course.exercises import l17


def stub(*args):
    """What the notebook ships: the learner has not written anything yet."""
    return None


# ---------------------------------------------------------------------------- new head
def good_head(model, num_classes):
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    return model


def test_replace_head(capsys):
    assert l17.replace_head(good_head) == 1.0
    assert "correct" in capsys.readouterr().out


def test_replace_head_wrong(capsys):
    def fixed_size(model, num_classes):
        model.fc = nn.Linear(512, 10)
        return model

    def appended(model, num_classes):          # keeps the 1000-way layer and adds one
        return nn.Sequential(model, nn.Linear(1000, num_classes))

    assert l17.replace_head(fixed_size) == 0
    assert "with num_classes=7: expected model.fc = nn.Linear(512, 7), got nn.Linear(512, 10)" \
        in capsys.readouterr().out
    assert l17.replace_head(appended) == 0
    assert "model.fc should be an nn.Linear" in capsys.readouterr().out


def test_replace_head_forgets_to_return(capsys):
    def no_return(model, num_classes):
        model.fc = nn.Linear(512, num_classes)

    assert l17.replace_head(no_return) == 0
    assert "returned None; return the model" in capsys.readouterr().out


def test_replace_head_stub(capsys):
    assert l17.replace_head(stub) == 0
    assert "returned None" in capsys.readouterr().out


# ---------------------------------------------------------------------------- freezing
def good_freeze(model):
    for name, p in model.named_parameters():
        p.requires_grad = name.startswith("fc.")
    return model


def test_freeze_backbone(capsys):
    assert l17.freeze_backbone(good_freeze) == 1.0
    assert "correct" in capsys.readouterr().out


def test_freeze_backbone_wrong(capsys):
    def freeze_all(model):
        for p in model.parameters():
            p.requires_grad = False
        return model

    def freeze_convs_only(model):
        for name, p in model.named_parameters():
            if "conv" in name:
                p.requires_grad = False
        return model

    assert l17.freeze_backbone(freeze_all) == 0
    assert "expected 5,130 trainable parameters (the head: 512 x 10 weights + 10 biases), got 0; " \
           "the head must stay trainable" in capsys.readouterr().out
    assert l17.freeze_backbone(freeze_convs_only) == 0
    assert "still trainable: bn1.bias" in capsys.readouterr().out


def test_freeze_backbone_stub(capsys):
    assert l17.freeze_backbone(stub) == 0
    assert "returned None" in capsys.readouterr().out


# ---------------------------------------------------------------------------- loading
def good_load(model, state_dict):
    backbone = {k: v for k, v in state_dict.items() if not k.startswith("fc.")}
    model.load_state_dict(backbone, strict=False)
    return model


def test_load_backbone(capsys):
    assert l17.load_backbone(good_load) == 1.0
    assert "correct" in capsys.readouterr().out


def test_load_backbone_wrong(capsys):
    def load_everything(model, state_dict):
        model.load_state_dict(state_dict)     # the 1000-class head does not fit
        return model

    def load_nothing(model, state_dict):
        return model

    assert l17.load_backbone(load_everything) == 0
    assert "raised RuntimeError" in capsys.readouterr().out
    assert l17.load_backbone(load_nothing) == 0
    assert "backbone tensors were not loaded, e.g. conv1.weight" in capsys.readouterr().out


def test_load_backbone_stub(capsys):
    assert l17.load_backbone(stub) == 0
    assert "returned None" in capsys.readouterr().out


def test_the_lessons_fallback_copies_pass_their_checks(capsys):
    assert l17.replace_head(l17.lesson_replace_head) == 1.0
    assert l17.freeze_backbone(l17.lesson_freeze_backbone) == 1.0


def test_the_lesson_pipeline_calls_the_learners_functions():
    """new_model and the feature-extraction run use replace_head / freeze_backbone as the
    learner defined them (with the course's copies only as a fallback), not copies of their own."""
    import nbformat

    from course.paths import ROOT
    path = next((ROOT / "notebooks").glob("17_*.ipynb"))
    code = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
    pipeline = code[code.index("def new_model"):]
    assert "replace_head(net, len(CLASSES))" in pipeline       # both paths: ImageNet and offline
    assert "replace_head(architecture(), len(CLASSES))" in pipeline   # the restored copy too
    assert "freeze_backbone(new_model(" in pipeline
    assert ".fc = nn.Linear" not in pipeline                     # no private head replacement
    assert "head = nn.Linear(512, 10)" not in pipeline           # the head trained is the learner's
    assert "replace_head = l17.lesson_replace_head" in code        # fallback only while failing
    assert "freeze_backbone = l17.lesson_freeze_backbone" in code
