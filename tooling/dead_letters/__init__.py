"""Dead letters as a first-class thing: what each function's retries gave up on, where it waits, and how to
send it again.

- holds.py: where dead letters wait, from the manifest (a Pub/Sub hold subscription per dead-letter topic,
  the Lambda's on-failure SQS queue);
- pubsub_hold.py / sqs_hold.py: reading a hold without taking anything out of it, and redriving a message
  (republished to its original topic, or the Lambda invoked again with its original event), removed from
  the hold only once that succeeded;
- preview.py: what of a message's data may be shown (cut, control characters escaped, secrets never);
- connect.py: the clients, for the running `mlops-events up` (from its up.json) or the cloud, built lazily;
- operations.py: list and redrive across the holds; console.py: the line `up` shows as a message is
  dead-lettered.
"""
