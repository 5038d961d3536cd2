from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("predictions", "0003_queued_at"),
    ]

    operations = [
        migrations.AddField(
            model_name="job",
            name="frame_count",
            field=models.PositiveIntegerField(
                default=0, help_text="Videos: the frames the container declared when the upload was checked."
            ),
        ),
    ]
