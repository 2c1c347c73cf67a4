from notifier.detect.locations import key_lines, line_of

TEXT = '''\
# comment = 1
name = "x"  # trailing = comment
channels = [
  "email",   # not = a key
  "sms",
]
description = """
fake = "not a key"
"""
a.b = 1
"quoted.key" = 2
[params]
grace = "1h"
[[steps]]
delay = "0h"
[[steps]]
note = 'it''s = fine'
delay = "1h"
'''


def test_key_lines() -> None:
    lines = key_lines(TEXT)
    assert lines[("name",)] == 2
    assert lines[("channels",)] == 3
    assert lines[("description",)] == 7
    assert ("fake",) not in lines and ("comment",) not in lines
    assert lines[("a", "b")] == 10
    assert lines[("quoted.key",)] == 11
    assert lines[("params", "grace")] == 13
    assert lines[("steps", 0)] == 14 and lines[("steps", 0, "delay")] == 15
    assert lines[("steps", 1, "delay")] == 18


def test_line_of_falls_back_to_the_enclosing_table() -> None:
    lines = key_lines(TEXT)
    assert line_of(lines, ("steps", 1, "template")) == 16
    assert line_of(lines, ("params", "wait")) == 12
    assert line_of(lines, ("trigger",)) == 1
