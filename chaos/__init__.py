"""`make chaos`: faults injected one after another into an isolated stack under steady work.

Each fault runs while the workload asks for countable effects (mails, Discord
messages, syncs, agent commands); after it, every effect is counted where its
user would see it (the mail sink, the Discord emulator, the `sync.completed`
and `server.command_acknowledged` events, the agent's own log) against what
was asked. `python -m chaos --help` lists the faults.
"""
