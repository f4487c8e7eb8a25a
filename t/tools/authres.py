#!/usr/bin/python3
"""authres.py - an RFC 8601 Authentication-Results parser, written from the
RFC's ABNF (section 2.2) and RFC 5322's CFWS, independent of the milter's C
code: the grammar test of the header sluice writes.

  authres.py MESSAGE_FILE AUTHSERV_ID
    parses every Authentication-Results field of the message (a file as
    smtp-sink stores it); prints "count=N" (fields claiming AUTHSERV_ID),
    "other=N" (fields of other ids), then for the field claiming
    AUTHSERV_ID one line per resinfo: "method=result prop=value ..." with
    comments dropped. Exit 1 when a field does not parse (the error on
    stderr), 2 on usage errors.
"""
import email
import email.policy
import re
import sys

TSPECIALS = set('()<>@,;:\\"/[]?=')


class ParseError(Exception):
    pass


class P:
    def __init__(self, s):
        self.s = s
        self.i = 0

    def peek(self):
        return self.s[self.i] if self.i < len(self.s) else ''

    def cfws(self):
        while self.i < len(self.s):
            c = self.s[self.i]
            if c in ' \t\r\n':
                self.i += 1
            elif c == '(':
                self.comment()
            else:
                break

    def comment(self):
        depth = 0
        while self.i < len(self.s):
            c = self.s[self.i]
            self.i += 1
            if c == '\\':
                self.i += 1
            elif c == '(':
                depth += 1
            elif c == ')':
                depth -= 1
                if depth == 0:
                    return
        raise ParseError('unterminated comment')

    def token(self):
        j = self.i
        while self.i < len(self.s) and 0x20 < ord(self.s[self.i]) < 0x7f \
                and self.s[self.i] not in TSPECIALS:
            self.i += 1
        if j == self.i:
            raise ParseError('token expected at %d: %r' % (j, self.s[j:j + 20]))
        return self.s[j:self.i]

    def keyword(self):
        # RFC 8601 Keyword (RFC 5321 Ldh-str): letters, digits, '-' inside
        m = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?").match(self.s, self.i)
        if not m:
            raise ParseError('keyword expected at %d: %r' % (self.i, self.s[self.i:self.i + 20]))
        self.i = m.end()
        return m.group(0)

    def quoted(self):
        if self.peek() != '"':
            raise ParseError('quoted-string expected')
        self.i += 1
        out = ''
        while self.i < len(self.s):
            c = self.s[self.i]
            self.i += 1
            if c == '\\':
                out += self.s[self.i]
                self.i += 1
            elif c == '"':
                return out
            elif ord(c) < 0x20 and c not in '\t':
                raise ParseError('control in quoted-string')
            else:
                out += c
        raise ParseError('unterminated quoted-string')

    def value(self):
        return self.quoted() if self.peek() == '"' else self.token()

    def pvalue(self):
        # value / [ [ local-part ] "@" ] domain-name
        self.cfws()
        if self.peek() == '"':
            v = self.quoted()
            if self.peek() == '@':
                self.i += 1
                v += '@' + self.dotatom()
            return v
        m = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]*@[A-Za-z0-9.\-]+").match(self.s, self.i)
        if m:
            self.i = m.end()
            return m.group(0)
        return self.token()

    def dotatom(self):
        m = re.compile(r"[A-Za-z0-9.\-]+").match(self.s, self.i)
        if not m:
            raise ParseError('domain expected')
        self.i = m.end()
        return m.group(0)

    def expect(self, c):
        self.cfws()
        if self.peek() != c:
            raise ParseError('%r expected at %d: %r' % (c, self.i, self.s[self.i:self.i + 20]))
        self.i += 1


def parse(value):
    p = P(value)
    p.cfws()
    authserv = p.value()
    p.cfws()
    if p.peek().isdigit():          # [CFWS authres-version]
        p.token()
        p.cfws()
    results = []
    p.expect(';')
    p.cfws()
    if p.s[p.i:p.i + 4].lower() == 'none':
        p.i += 4
        p.cfws()
        if p.i != len(p.s):
            raise ParseError('text after none')
        return authserv, results
    while True:
        p.cfws()
        method = p.keyword()
        p.cfws()
        if p.peek() == '/':          # method version
            p.i += 1
            p.cfws()
            p.token()
        p.expect('=')
        p.cfws()
        result = p.keyword()
        props = []
        p.cfws()
        if p.s[p.i:p.i + 7].lower() == 'reason=':
            p.i += 7
            p.cfws()
            props.append(('reason', p.value()))
        while True:
            p.cfws()
            if p.peek() in (';', ''):
                break
            ptype = p.keyword()
            p.expect('.')
            p.cfws()
            prop = p.keyword()
            p.expect('=')
            props.append(('%s.%s' % (ptype, prop), p.pvalue()))
        results.append((method, result, props))
        p.cfws()
        if p.peek() == '':
            break
        p.expect(';')
    return authserv, results


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], 'rb') as f:
        msg = email.message_from_binary_file(f, policy=email.policy.compat32)
    ours, count, other = None, 0, 0
    for raw in msg.get_all('Authentication-Results') or []:
        value = re.sub(r'\r?\n', '', str(raw))   # unfold
        try:
            authserv, results = parse(value)
        except ParseError as e:
            print('parse error: %s in %r' % (e, value), file=sys.stderr)
            return 1
        if authserv.lower() == sys.argv[2].lower():
            count += 1
            ours = results
        else:
            other += 1
    print('count=%d' % count)
    print('other=%d' % other)
    for method, result, props in ours or []:
        print(' '.join(['%s=%s' % (method, result)] + ['%s=%s' % kv for kv in props]))
    return 0


if __name__ == '__main__':
    sys.exit(main())
