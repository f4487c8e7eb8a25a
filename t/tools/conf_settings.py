#!/usr/bin/python3
"""conf_settings.py - the setting paths of etc/sluice.conf or of sluice.conf(5).

    conf_settings.py conf FILE   every setting path of a sluice.conf
    conf_settings.py man FILE    every setting documented in sluice.conf.5
    conf_settings.py defaults CONF MAN
                                 each setting CONF gives a value to (not in
                                 a comment) whose value is not the default
                                 MAN states, one line each; exit 1 if any

One path a line, sorted: "redis.timeout_ms", "policyd.greylist.delay";
a group is a path too ("redis.sentinel"), and the settings of the groups
in a list are under the list's path ("dkim.keys.selector").

Why a parser of our own: the reference file shows many settings only in
comments (unset by default: "# hostname = ...;", the "# srs = { ... };"
group, the example entries of dkim.keys, policyd.ratelimit and
policyd.relay), and those are settings an admin must find in the manual
too. libconfig would see none of them. So a comment whose text is itself
libconfig (it starts with "name =", "{ name =", "};" or continues a
commented group) is read as if it were not commented, and the comment
after "NAME = ( );" that starts with "( {" is NAME's example value. Prose
comments are left alone.

The manual's convention (man/sluice.conf.5): each setting is one
".It Cm full.path" item; nothing else in that page uses ".It Cm".
"""
import re
import sys

IDENT = r"[A-Za-z_][A-Za-z0-9_-]*"
# "name = " with its spaces: prose such as "x= this long after t=" is not code.
CODE_COMMENT = re.compile(r"^\s*(" + IDENT + r"\s+=\s|\{\s*" + IDENT + r"\s+=\s|\}\s*[;,)]?\s*$|\)\s*;?\s*$)")


def split_comment(line):
    """(code, comment) of a line: the first '#' outside a string."""
    in_str = False
    esc = False
    for i, c in enumerate(line):
        if in_str:
            if esc:
                esc = False
            elif c == "\\":
                esc = True
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c == "#":
            return line[:i], line[i + 1:]
    return line, ""


def uncomment(text):
    """The file's code with commented-out settings made code again."""
    out = []
    depth = 0  # open brackets of commented code still to close
    for line in text.splitlines():
        code, comment = split_comment(line)
        example = re.match(r"\s*\(\s*\{", comment)
        if example and re.search(r"=\s*\(\s*\)\s*;\s*$", code):
            code = re.sub(r"\(\s*\)\s*;\s*$", "", code) + comment.strip()
            # The example ends the value: a "( { ... } )" without ';'.
            if not code.rstrip().endswith(";"):
                code += ";"
            comment = ""
        out.append(code)
        # The comment's own trailing comment ("# x = 1;  # why") is prose.
        body, _ = split_comment(comment)
        # Code ends a line with ';' or opens a group or list; prose such as
        # "false = answer 451 4.3.0" does not.
        if body.strip() and (depth > 0 or (CODE_COMMENT.match(body)
                                           and re.search(r"([;{(\[]|\}\s*,?)\s*$|^\s*[})]", body))):
            out.append(body)
            depth += sum(body.count(x) for x in "{([") - sum(body.count(x) for x in "})]")
            depth = max(depth, 0)
    return "\n".join(out)


TOKEN = re.compile(r'\s*(?:("(?:[^"\\]|\\.)*")|(' + IDENT + r')|([-+0-9.][0-9A-Za-z.x+-]*)|([=:;,{}()\[\]]))')


def tokens(text):
    pos = 0
    while True:
        m = TOKEN.match(text, pos)
        if not m:
            rest = text[pos:].strip()
            if rest:
                raise SyntaxError("cannot read: %r" % rest[:40])
            return
        pos = m.end()
        yield m.group(m.lastindex)


class Parser:
    def __init__(self, toks):
        self.t = list(toks)
        self.i = 0
        self.paths = set()
        self.values = {}

    def peek(self):
        return self.t[self.i] if self.i < len(self.t) else None

    def take(self, want=None):
        tok = self.peek()
        if tok is None or (want is not None and tok != want):
            raise SyntaxError("expected %r, got %r (token %d)" % (want, tok, self.i))
        self.i += 1
        return tok

    def settings(self, prefix, end):
        """Read settings up to `end`; self.values gets path -> scalar."""
        while self.peek() not in (end, None):
            name = self.take()
            if not re.match(IDENT + "$", name):
                raise SyntaxError("expected a setting name, got %r" % name)
            self.take("=") if self.peek() == "=" else self.take(":")
            path = prefix + name
            self.paths.add(path)
            self.value(path)
            if self.peek() in (";", ","):
                self.take()

    def value(self, path, in_list=False):
        tok = self.take()
        if tok not in "{([" and not in_list:
            self.values.setdefault(path, tok.strip('"'))
        if tok == "{":
            self.settings(path + ".", "}")
            self.take("}")
        elif tok in ("(", "["):
            close = ")" if tok == "(" else "]"
            while self.peek() != close:
                if self.peek() == ",":
                    self.take()
                    continue
                self.value(path, in_list=True)
            self.take(close)


def conf_paths(text):
    p = Parser(tokens(uncomment(text)))
    p.settings("", None)
    return p.paths


def conf_values(text):
    """path -> value of the settings the file sets outside comments."""
    code = "\n".join(split_comment(line)[0] for line in text.splitlines())
    p = Parser(tokens(code))
    p.settings("", None)
    return p.values


def man_defaults(text):
    """path -> the text of its item line after the name (type, default)."""
    out = {}
    for m in re.finditer(r"^\.It Cm ([A-Za-z0-9_.-]+)(.*)$", text, re.M):
        out[m.group(1)] = m.group(2)
    return out


def default_mismatches(conf_text, man_text):
    """The reference file's value must be the default the manual states:
    the first word of the item's Pq (its quotes, Qq, left out)."""
    docs = man_defaults(man_text)
    bad = []
    for path, value in sorted(conf_values(conf_text).items()):
        item = docs.get(path)
        if item is None:
            continue  # the settings comparison reports it
        m = re.search(r"\bPq\s+(?:Qq\s+)?(\S+)", item)
        stated = m.group(1).replace("\\&", "").strip('"') if m else None
        if stated != value:
            bad.append("%s: etc/sluice.conf says %s, the manual's default is %s"
                       % (path, value, stated))
    return bad


def man_paths(text):
    return {m.group(1) for m in re.finditer(r"^\.It Cm ([A-Za-z0-9_.-]+)", text, re.M)}


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "defaults":
        with open(sys.argv[2], encoding="utf-8") as f:
            conf = f.read()
        with open(sys.argv[3], encoding="utf-8") as f:
            man = f.read()
        bad = default_mismatches(conf, man)
        for line in bad:
            print(line)
        return 1 if bad else 0
    if len(sys.argv) != 3 or sys.argv[1] not in ("conf", "man"):
        sys.stderr.write("usage: conf_settings.py conf|man FILE | defaults CONF MAN\n")
        return 2
    with open(sys.argv[2], encoding="utf-8") as f:
        text = f.read()
    try:
        paths = conf_paths(text) if sys.argv[1] == "conf" else man_paths(text)
    except SyntaxError as e:
        sys.stderr.write("%s: %s\n" % (sys.argv[2], e))
        return 1
    for p in sorted(paths):
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
