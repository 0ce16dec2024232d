# The outbox's message ids are fresh per publish and unique in the store, which
# the relay relies on: the outbox's own unique index only cost every row an entry.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('orders', '0002_drop_indexes_covered_by_composites'),
    ]

    operations = [
        migrations.AlterField(
            model_name='outbox',
            name='message_id',
            field=models.UUIDField(),
        ),
    ]
