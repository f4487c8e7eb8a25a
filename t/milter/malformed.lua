-- malformed.lua - malformed messages straight at sluice-milter's auth
-- module (no Postfix in between to clean them up), by miltertest.
-- Run as: miltertest -s malformed.lua -D sock=unix:/path/milter.sock
-- Each message must end with ACCEPT/CONTINUE (or TEMPFAIL, never lost)
-- and, when accepted, carry one Authentication-Results field whose text
-- contains what the case expects. Any other answer, a lost connection or
-- a crash fails the script. The client is sender.test's (SPF pass).

local function expect(conn, what, ...)
	local r = mt.getreply(conn)
	for _, ok in ipairs({...}) do
		if r == ok then return r end
	end
	error(what .. ": unexpected reply " .. tostring(r))
end

local cases = 0

local function run(name, headers, body, want)
	local conn = mt.connect(sock, 20, 0.25)
	if conn == nil then error(name .. ": cannot connect to " .. sock) end
	mt.conninfo(conn, "mail.sender.test", "127.0.0.9")
	expect(conn, name .. ": connect", SMFIR_CONTINUE)
	mt.helo(conn, "mail.sender.test")
	expect(conn, name .. ": helo", SMFIR_CONTINUE)
	mt.macro(conn, SMFIC_MAIL, "i", "MALFORMED" .. cases)
	mt.mailfrom(conn, "<a@sender.test>")
	expect(conn, name .. ": mailfrom", SMFIR_CONTINUE)
	mt.rcptto(conn, "<user@example.test>")
	expect(conn, name .. ": rcptto", SMFIR_CONTINUE)
	for _, h in ipairs(headers) do
		mt.header(conn, h[1], h[2])
		expect(conn, name .. ": header " .. string.sub(h[1], 1, 20), SMFIR_CONTINUE)
	end
	mt.eoh(conn)
	expect(conn, name .. ": eoh", SMFIR_CONTINUE)
	mt.bodystring(conn, body)
	expect(conn, name .. ": body", SMFIR_CONTINUE)
	mt.eom(conn)
	-- a tempfail with our text is SMFIR_REPLYCODE (only 4xx is sent so)
	local r = expect(conn, name .. ": eom", SMFIR_ACCEPT, SMFIR_CONTINUE, SMFIR_TEMPFAIL,
			 SMFIR_REPLYCODE)
	if r ~= SMFIR_TEMPFAIL and r ~= SMFIR_REPLYCODE then
		local ar = mt.getheader(conn, "Authentication-Results", 0)
		if ar == nil then error(name .. ": no Authentication-Results") end
		if mt.getheader(conn, "Authentication-Results", 1) ~= nil then
			error(name .. ": two Authentication-Results added")
		end
		if want and not string.find(ar, want, 1, true) then
			error(name .. ": A-R '" .. ar .. "' lacks '" .. want .. "'")
		end
		print("ok " .. name .. ":" .. string.gsub(ar, "%s+", " "))
	else
		print("ok " .. name .. ": tempfail")
	end
	mt.disconnect(conn)
	cases = cases + 1
end

-- miltertest itself crashes on long fields (6,000 characters: a segfault,
-- 10,000: "stack smashing detected", before anything reaches the milter):
-- 10,000-character fields go through Postfix in t_auth_malformed.sh; here
-- 1,000.
local long = string.rep("x", 1000)
local b64 = string.rep("QUJD", 200)	-- the 100 KB b= goes through Postfix

run("no From", { { "Subject", "no from" } }, "hi\r\n", "dmarc=permerror")
run("two From", { { "From", "a@sender.test" }, { "From", "b@evil.test" } }, "hi\r\n",
    "dmarc=permerror")
run("two addresses", { { "From", "a@sender.test, b@evil.test" } }, "hi\r\n", "dmarc=permerror")
run("group syntax", { { "From", "friends: a@sender.test, b@evil.test;" } }, "hi\r\n",
    "dmarc=permerror")
run("empty From", { { "From", "" } }, "hi\r\n", "dmarc=permerror")
run("1,000-character From", { { "From", "a@sender.test (" .. long .. ")" } }, "hi\r\n",
    "dmarc=pass")
run("1,000-character Subject", { { "From", "a@sender.test" }, { "Subject", long } }, "hi\r\n",
    "dmarc=pass")
run("1,000-character header name", { { long, "v" }, { "From", "a@sender.test" } }, "hi\r\n",
    "dmarc=pass")
run("header without colon", { { "NoColonHere", "" }, { "From", "a@sender.test" } }, "hi\r\n",
    "dmarc=pass")
run("NUL bytes", { { "From", "a@sender.test\0b@evil.test" }, { "Subject", "\0\0" } },
    "a\0b\r\n", "spf=pass")
run("8-bit From", { { "From", "J\246rg <a@sender.test>" } }, "hi\r\n", "spf=pass")
run("UTF-8 display name", { { "From", "J\195\182rg <a@sender.test>" } }, "hi\r\n", "dmarc=pass")
run("UTF-8 domain", { { "From", "a@b\195\188cher.test" } }, "hi\r\n", "header.from=xn--bcher-kva.test")
run("invalid UTF-8 domain", { { "From", "a@b\195cher.test" } }, "hi\r\n", "dmarc=permerror")
run("control characters", { { "From", "a@sender.test\1\2\27[31m" } }, "hi\r\n", "spf=pass")
run("DKIM-Signature garbage", { { "DKIM-Signature", "garbage;;;==;" },
    { "From", "a@sender.test" } }, "hi\r\n", "dmarc=pass")
run("DKIM-Signature duplicate tags", { { "DKIM-Signature",
    " v=1; a=rsa-sha256; d=sender.test; d=evil.test; s=x; s=y; h=from; bh=AA==; b=AA==" },
    { "From", "a@sender.test" } }, "hi\r\n", "dmarc=pass")
run("DKIM-Signature missing tags", { { "DKIM-Signature", " v=1; a=rsa-sha256" },
    { "From", "a@sender.test" } }, "hi\r\n", "dmarc=pass")
run("DKIM-Signature long b=", { { "DKIM-Signature",
    " v=1; a=rsa-sha256; d=sender.test; s=x; h=from; bh=AA==; b=" .. b64 },
    { "From", "a@sender.test" } }, "hi\r\n", "dmarc=pass")
run("many DKIM-Signatures", (function()
	local h = {}
	for i = 1, 50 do
		h[#h + 1] = { "DKIM-Signature", " v=1; a=rsa-sha256; d=d" .. i .. ".test; s=x; h=from; bh=AA==; b=AA==" }
	end
	h[#h + 1] = { "From", "a@sender.test" }
	return h
end)(), "hi\r\n", "dmarc=pass")
run("forged A-R of ours, unterminated comment", {
    { "Authentication-Results", " (open mx.example.test; dmarc=pass" },
    { "Authentication-Results", " mx.example.test; dmarc=pass" },
    { "From", "a@sender.test" } }, "hi\r\n", "dmarc=pass")
run("300 forged A-R fields", (function()
	local h = {}
	for i = 1, 300 do h[#h + 1] = { "Authentication-Results", " mx.example.test; none" } end
	h[#h + 1] = { "From", "a@sender.test" }
	return h
end)(), "hi\r\n", nil)
run("many From fields", (function()
	local h = {}
	for i = 1, 500 do h[#h + 1] = { "From", "a" .. i .. "@sender.test" } end
	return h
end)(), "hi\r\n", "dmarc=permerror")

print(cases .. " malformed messages, all answered")
