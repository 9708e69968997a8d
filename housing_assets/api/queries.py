"""Every GraphQL document the client sends, in one place, written as a person would read them.

Launching a run and reading a run's status go through `dagster_graphql.DagsterGraphQLClient`,
which owns those two documents. Everything else is here, against the schema of
dagster-graphql 1.13.27 (explore it in the UI's GraphiQL at http://127.0.0.1:3000/graphql).
Metadata entries arrive as typed union members; the one fragment below asks for the value field
of each member, and `housing_assets.api.client.metadata_value` turns them into plain JSON.
"""

METADATA_FIELDS = """
fragment MetadataFields on MetadataEntry {
  __typename
  label
  ... on FloatMetadataEntry { floatValue floatRepr }
  ... on IntMetadataEntry { intValue intRepr }
  ... on BoolMetadataEntry { boolValue }
  ... on TextMetadataEntry { text }
  ... on UrlMetadataEntry { url }
  ... on PathMetadataEntry { path }
  ... on NotebookMetadataEntry { path }
  ... on MarkdownMetadataEntry { mdStr }
  ... on JsonMetadataEntry { jsonString }
  ... on TimestampMetadataEntry { timestamp }
  ... on PipelineRunMetadataEntry { runId }
  ... on AssetMetadataEntry { assetKey { path } }
  ... on JobMetadataEntry { jobName }
  ... on PoolMetadataEntry { pool }
  ... on PythonArtifactMetadataEntry { module name }
  ... on TableSchemaMetadataEntry { schema { columns { name type description } } }
  ... on TableMetadataEntry { table { records schema { columns { name type } } } }
}
"""

ASSETS = """
query Assets {
  assetNodes {
    assetKey { path }
    groupName
    kinds
    description
    jobNames
    hasAssetChecks
    dependencyKeys { path }
    dependedByKeys { path }
  }
}
"""

# `assetKeys: null` means every asset. One materialisation per asset: the latest.
LATEST_MATERIALIZATIONS = (
    """
query LatestMaterializations($assetKeys: [AssetKeyInput!]) {
  assetNodes(assetKeys: $assetKeys) {
    assetKey { path }
    groupName
    assetMaterializations(limit: 1) {
      runId
      timestamp
      metadataEntries { ...MetadataFields }
    }
  }
}
"""
    + METADATA_FIELDS
)

# The benchmarked query: the latest materialisation of every asset in the models' group.
MODEL_METRICS = (
    """
query ModelMetrics($group: AssetGroupSelector!) {
  assetNodes(group: $group) {
    assetKey { path }
    assetMaterializations(limit: 1) {
      runId
      timestamp
      metadataEntries { ...MetadataFields }
    }
  }
}
"""
    + METADATA_FIELDS
)

ASSET_CHECKS = (
    """
query AssetChecks {
  assetNodes {
    assetKey { path }
    assetChecksOrError {
      __typename
      ... on AssetChecks {
        checks {
          name
          description
          blocking
          executionForLatestMaterialization {
            runId
            status
            timestamp
            evaluation {
              timestamp
              success
              severity
              description
              metadataEntries { ...MetadataFields }
            }
          }
        }
      }
      ... on Error { message }
    }
  }
}
"""
    + METADATA_FIELDS
)

RUN_FIELDS = """
fragment RunFields on Run {
  runId
  jobName
  status
  creationTime
  startTime
  endTime
  tags { key value }
  assetSelection { path }
}
"""

RUNS = (
    """
query Runs($limit: Int!) {
  runsOrError(limit: $limit) {
    __typename
    ... on Runs { results { ...RunFields } }
    ... on Error { message }
  }
}
"""
    + RUN_FIELDS
)

RUN = (
    """
query Run($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { ...RunFields }
    ... on Error { message }
  }
}
"""
    + RUN_FIELDS
)

# Events come oldest first, one page at a time; the client pages to the end to keep the last N.
RUN_LOGS = """
query RunLogs($runId: ID!, $afterCursor: String, $limit: Int) {
  logsForRun(runId: $runId, afterCursor: $afterCursor, limit: $limit) {
    __typename
    ... on EventConnection {
      cursor
      hasMore
      events {
        __typename
        ... on MessageEvent { timestamp level eventType stepKey message }
      }
    }
    ... on Error { message }
  }
}
"""

SCHEDULE = """
query Schedule($selector: ScheduleSelector!) {
  scheduleOrError(scheduleSelector: $selector) {
    __typename
    ... on Schedule {
      name
      cronSchedule
      executionTimezone
      pipelineName
      description
      scheduleState {
        status
        nextTick { timestamp }
        ticks(limit: 1) { status timestamp runIds skipReason error { message } }
      }
    }
    ... on Error { message }
  }
}
"""

FRESHNESS = """
query Freshness {
  assetNodes {
    assetKey { path }
    freshnessStatusInfo {
      freshnessStatus
      freshnessStatusMetadata { lastMaterializedTimestamp }
    }
    internalFreshnessPolicy {
      ... on TimeWindowFreshnessPolicy { failWindowSeconds warnWindowSeconds }
    }
  }
}
"""
