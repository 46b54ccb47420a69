"""The AWS face's adapters: S3, DynamoDB, SQS, SNS, Athena. boto3 is imported only here (lazily)."""
