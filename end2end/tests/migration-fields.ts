/** A new migration's fields as the form posts them to `create_migration`, for tests that add
 *  migrations through the server functions. */
export function newMigrationFields(flag: string): Record<string, string> {
  return {
    'form[feature_flag]': flag,
    'form[grpc_method]': 'CommitService::FindCommit',
    'form[gitaly_version]': 'v16.3.2',
    'form[gitlab_version]': 'v16.3',
    'form[routes]': 'GET /api/v4/projects/:id/repository/commits/:sha',
    'form[acceptance_issue]': 'https://gitlab.com/gitlab-org/gitaly/-/issues/4821',
    'form[conversation]': '#567',
    'form[owner]': '',
    'form[production_steps]': '',
  };
}
