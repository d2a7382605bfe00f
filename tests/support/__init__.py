"""The harness of Botwerk's own tests: servers, processes, faults; fixtures in :mod:`.plugin`."""
