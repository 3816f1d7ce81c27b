# Computed values the mocked provider returns where a test reads them (terraform test, mock_provider
# "archive" { source = ".../tests/mocks/archive" }): the shapes the real provider returns. Anything not set
# here is made up by Terraform (random strings), which is enough where only distinctness matters.

mock_data "archive_file" {
  defaults = {
    output_md5          = "9e107d9d372bb6826bd81d3542a419d6"
    output_sha256       = "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592"
    output_base64sha256 = "16j7swfXgJRpypq8sAguT41WUeRtPNt2LQLQvzfJ5ZI="
    output_size         = 48213
  }
}
