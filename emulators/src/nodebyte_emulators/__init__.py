"""Local stand-ins for NodeByte's upstreams, each a Litestar app served by uvicorn.

- `nodebyte_emulators.pterodactyl.create_pterodactyl_app(PterodactylConfig)`
- `nodebyte_emulators.discord.create_discord_app(DiscordConfig)`
- `nodebyte_emulators.hytale.create_hytale_app(HytaleConfig)`
- `nodebyte_emulators.server.BackgroundServer` runs either on a free port in a thread.
- `python -m nodebyte_emulators {pterodactyl|discord|hytale} --host H --port P` runs one.
"""
