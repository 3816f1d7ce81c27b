"""What the tests share and are not tests themselves: fakes of the ports, the drift oracle, the test
cluster, bundle helpers, the local cloud under test, the inference service's models, the Terraform
contract."""
