-- lifecycle.lua - libmilter lifetimes of sluice-milter, seen by miltertest.
-- Run as: miltertest -s lifecycle.lua -D sock=unix:/path/milter.sock
-- Every step must answer CONTINUE (or ACCEPT at end of message); any
-- other answer, a lost connection or a crash makes miltertest fail.

local function expect(conn, what, ...)
	local r = mt.getreply(conn)
	for _, ok in ipairs({...}) do
		if r == ok then return end
	end
	error(what .. ": unexpected reply " .. tostring(r))
end

-- 1. A connection that only closes: xxfi_close may be the only callback.
local conn = mt.connect(sock, 20, 0.25)
if conn == nil then error("cannot connect to " .. sock) end
mt.disconnect(conn)

-- 2. Connect, then close before any message.
conn = mt.connect(sock)
if mt.conninfo(conn, "mail.sender.test", "192.0.2.7") ~= nil then error("conninfo") end
expect(conn, "connect", SMFIR_CONTINUE)
mt.disconnect(conn)

-- 3. A whole message, then an aborted one, then another whole one on the
-- same connection: per-message state must be reset by abort and by eom.
conn = mt.connect(sock)
mt.conninfo(conn, "mail.sender.test", "192.0.2.7")
expect(conn, "connect", SMFIR_CONTINUE)
-- HELO as an MTA sends it: the milter asks for it (SPF's HELO identity),
-- and a HELO that miltertest sends on its own after mt.macro(SMFIC_MAIL)
-- makes libmilter drop those MAIL macros (a later stage's) again.
mt.helo(conn, "mail.sender.test")
expect(conn, "helo", SMFIR_CONTINUE)
for round = 1, 3 do
	mt.macro(conn, SMFIC_MAIL, "i", "QID" .. round)
	if mt.mailfrom(conn, "<a@sender.test>") ~= nil then error("mailfrom") end
	expect(conn, "mailfrom", SMFIR_CONTINUE)
	if mt.rcptto(conn, "<b@example.test>") ~= nil then error("rcptto") end
	expect(conn, "rcptto", SMFIR_CONTINUE)
	if round == 2 then
		if mt.abort(conn) ~= nil then error("abort") end
	else
		mt.header(conn, "From", "a@sender.test")
		mt.header(conn, "Subject", "lifecycle " .. round)
		mt.eoh(conn)
		mt.bodystring(conn, "hello\r\n")
		if mt.eom(conn) ~= nil then error("eom") end
		expect(conn, "eom", SMFIR_ACCEPT, SMFIR_CONTINUE)
	end
end
mt.disconnect(conn)

-- 4. A message from a trusted client (127.0.0.1 in the test config).
conn = mt.connect(sock)
mt.conninfo(conn, "localhost", "127.0.0.1")
expect(conn, "connect", SMFIR_CONTINUE)
mt.helo(conn, "localhost")
expect(conn, "helo", SMFIR_CONTINUE)
mt.macro(conn, SMFIC_MAIL, "i", "QIDTRUSTED")
mt.mailfrom(conn, "<me@example.test>")
expect(conn, "mailfrom", SMFIR_CONTINUE)
mt.rcptto(conn, "<you@outside.test>")
expect(conn, "rcptto", SMFIR_CONTINUE)
mt.eoh(conn)
mt.eom(conn)
expect(conn, "eom", SMFIR_ACCEPT, SMFIR_CONTINUE)
-- Disconnect in the middle of the next message: close frees the message.
mt.mailfrom(conn, "<me@example.test>")
expect(conn, "mailfrom", SMFIR_CONTINUE)
mt.disconnect(conn, false)
