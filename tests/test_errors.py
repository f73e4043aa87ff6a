"""One bounded line per error, whatever a file puts into the message."""

from neurokd.errors import MAX_MESSAGE, UserError, one_line


def test_short_messages_are_kept_whole():
    assert str(UserError("config file a.yaml:\n  not found")) == "config file a.yaml: not found"


def test_long_messages_keep_their_start_and_their_fix():
    original = "model file m.safetensors: tensor '" + "w" * 100_000 + "' holds NaN; retrain or fix it"
    msg = str(UserError(original))
    assert len(msg) < MAX_MESSAGE + 40
    assert msg.startswith("model file m.safetensors: tensor 'www") and msg.endswith("holds NaN; retrain or fix it")
    head, rest = msg.split(" [... ")
    cut, tail = rest.split(" characters cut ...] ")
    assert len(head) + int(cut) + len(tail) == len(original)


def test_control_characters_are_escaped_not_printed():
    text = one_line("name \x1b[31mred\x00 end")
    assert text == "name \\x1b[31mred\\x00 end" and text.isprintable()
