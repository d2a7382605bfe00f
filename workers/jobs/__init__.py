"""Training as jobs: a Celery app whose trainers train, report progress and publish::

    botwerk trainer &          # a Celery worker: `celery -A botwerk.workers.jobs.app worker`
    botwerk train charrnn s3://corpora/plays.txt --name bard --epochs 20 --submit
    botwerk jobs follow ID     # epoch, loss, tokens/s, ETA; then bard@2

:mod:`.queues` names the queue and holds Celery's settings, :mod:`.app` is the Celery app
(tasks, and the step that records dead-lettered jobs), :mod:`.tasks` what a trainer does with
a job, :mod:`.records` what Botwerk keeps in Redis beside Celery's results, :mod:`.client`
submits, follows and cancels, :mod:`.commands` the ``botwerk`` commands. Each model kind adds
its training as a job through the ``botwerk.jobs`` entry-point group: a ``fit`` function that
its foreground ``botwerk train KIND`` calls too.
"""
