"""The subcommands, grouped: each module adds its parsers and holds their handlers."""
