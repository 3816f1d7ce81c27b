"""Rolling Kubernetes Deployments to the image digests that ECR pushes announce."""
