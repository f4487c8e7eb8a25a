/*
 * notify.h - tell the service manager (systemd, Type=notify) how the
 * daemon is doing, by the sd_notify(3) protocol.
 *
 * Interface:
 *   notify_send(state)  sends one datagram "state" to $NOTIFY_SOCKET;
 *                       0 when sent or when NOTIFY_SOCKET is unset (not
 *                       under a service manager), -1 with err otherwise.
 *   notify_ready(status)     READY=1 (STATUS= too when status is non-NULL):
 *                            after the sockets are open, the privilege
 *                            drop is done and the daemon serves; and again
 *                            after each reload.
 *   notify_reloading()       RELOADING=1 with MONOTONIC_USEC= (systemd 253's
 *                            Type=notify-reload asks for it; 252 ignores it),
 *                            before a SIGHUP reload starts.
 *   notify_stopping()        STOPPING=1 when the daemon begins to stop.
 *   The three helpers log a failure as a warning and return nothing: the
 *   service manager is informed, never a reason to stop serving.
 *
 * Contract: no state is kept; $NOTIFY_SOCKET is read at every call (the
 * daemons never change their environment), and each call opens, sends
 * and closes its own socket, so any thread may call and the privilege
 * drop changes nothing (systemd's socket is writable by every user).
 * A path starting with '@' is Linux's abstract namespace, as in
 * sd_notify(3). The datagram never blocks (MSG_DONTWAIT): a full queue
 * loses one notification, never stalls a daemon.
 *
 * Why by hand and not libsystemd's sd_notify(): the protocol is one
 * datagram of text on a unix socket, documented as stable for exactly
 * this use (sd_notify(3), "NOTES"); 60 lines here spare both daemons a
 * link dependency, and the package a Depends, that only this needs.
 */
#ifndef SLUICE_NOTIFY_H
#define SLUICE_NOTIFY_H

#include <stddef.h>

int notify_send(const char *state, char *err, size_t errsize);
void notify_ready(const char *status);
void notify_reloading(void);
void notify_stopping(void);

#endif
