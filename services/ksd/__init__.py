"""The platform's composition root: the `ksd` command (`services.ksd.cli`), which runs, migrates
and operates every service. The one package that may import all of them; `shared/` imports none."""
