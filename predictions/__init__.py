"""The Django app people use: jobs, detections, model versions, pages and the progress socket."""
