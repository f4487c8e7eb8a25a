/*
 * resp.h - the Redis protocol's text of one command.
 * Interface:
 *   resp_format_command()  "*<argc>\r\n" then "$<len>\r\n<arg>\r\n" for
 *                          each of argv (NUL-terminated strings) into buf;
 *                          returns the length, or 0 when it does not fit
 *                          in size bytes (then buf holds nothing usable).
 * Contract: the same bytes as hiredis's redisFormatCommandArgv() with
 * strlen() lengths; no allocation, no NUL written after the text.
 */
#ifndef SLUICE_RESP_H
#define SLUICE_RESP_H

#include <stddef.h>

size_t resp_format_command(char *buf, size_t size, int argc, const char **argv);

#endif
