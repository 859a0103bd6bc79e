#!/usr/bin/env python3
"""Turns a terminal screen captured with colours (`tmux capture-pane -e -p`) into an HTML
page that looks like the terminal: a dark background, a monospace font, the SGR colours
(16, 256 and 24-bit), bold, dim, reversed and underlined text. Used by assets/screenshots."""

import html
import re
import sys

BASE16 = [
    "#21222c", "#ff5555", "#50fa7b", "#f1fa8c", "#6272a4", "#ff79c6", "#8be9fd", "#f8f8f2",
    "#6272a4", "#ff6e6e", "#69ff94", "#ffffa5", "#8ea5e5", "#ff92df", "#a4ffff", "#ffffff",
]
FG, BG = "#f8f8f2", "#282a36"


def color256(n):
    if n < 16:
        return BASE16[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return "#%02x%02x%02x" % (steps[n // 36], steps[(n // 6) % 6], steps[n % 6])
    v = 8 + (n - 232) * 10
    return "#%02x%02x%02x" % (v, v, v)


def convert(text, title):
    state = {"fg": None, "bg": None, "bold": False, "dim": False, "rev": False, "ul": False}
    out = []

    def apply(params):
        codes = [int(p) if p else 0 for p in params.split(";")] if params else [0]
        i = 0
        while i < len(codes):
            c = codes[i]
            if c == 0:
                state.update(fg=None, bg=None, bold=False, dim=False, rev=False, ul=False)
            elif c == 1:
                state["bold"] = True
            elif c == 2:
                state["dim"] = True
            elif c == 4:
                state["ul"] = True
            elif c == 7:
                state["rev"] = True
            elif c == 22:
                state["bold"] = state["dim"] = False
            elif c == 24:
                state["ul"] = False
            elif c == 27:
                state["rev"] = False
            elif 30 <= c <= 37:
                state["fg"] = BASE16[c - 30]
            elif 90 <= c <= 97:
                state["fg"] = BASE16[c - 90 + 8]
            elif 40 <= c <= 47:
                state["bg"] = BASE16[c - 40]
            elif 100 <= c <= 107:
                state["bg"] = BASE16[c - 100 + 8]
            elif c == 39:
                state["fg"] = None
            elif c == 49:
                state["bg"] = None
            elif c in (38, 48) and i + 1 < len(codes):
                key = "fg" if c == 38 else "bg"
                if codes[i + 1] == 5 and i + 2 < len(codes):
                    state[key] = color256(codes[i + 2])
                    i += 2
                elif codes[i + 1] == 2 and i + 4 < len(codes):
                    state[key] = "#%02x%02x%02x" % tuple(codes[i + 2:i + 5])
                    i += 4
            i += 1

    def style():
        fg, bg = state["fg"] or FG, state["bg"]
        if state["rev"]:
            fg, bg = bg or BG, fg
        css = ["color:%s" % fg]
        if bg:
            css.append("background:%s" % bg)
        if state["bold"]:
            css.append("font-weight:bold")
        if state["dim"]:
            css.append("opacity:0.6")
        if state["ul"]:
            css.append("text-decoration:underline")
        return ";".join(css)

    for part in re.split(r"(\x1b\[[0-9;]*m)", text):
        m = re.fullmatch(r"\x1b\[([0-9;]*)m", part)
        if m:
            apply(m.group(1))
        elif part:
            out.append('<span style="%s">%s</span>' % (style(), html.escape(part)))
    return """<!doctype html><html><head><meta charset="utf-8"><title>%s</title>
<style>body{margin:0;background:%s}pre{margin:0;padding:14px 16px;font:15px/1.25 'DejaVu Sans Mono',monospace;color:%s}</style>
</head><body><pre>%s</pre></body></html>""" % (html.escape(title), BG, FG, "".join(out))


if __name__ == "__main__":
    sys.stdout.write(convert(sys.stdin.read(), sys.argv[1] if len(sys.argv) > 1 else "kpreload"))
