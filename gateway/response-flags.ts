/**
 * Envoy response flags: the short strings written to access logs and the `response_flags` metric
 * label (Envoy `StreamInfo::ResponseFlagUtils`).
 */
export const ResponseFlag = {
  /** No route or no matching filter chain. */
  NoRouteFound: 'NR',
  /** Upstream cluster not found. */
  NoClusterFound: 'NC',
  /** No healthy upstream host. */
  NoHealthyUpstream: 'UH',
  /** Upstream connection failure. */
  UpstreamConnectionFailure: 'UF',
  /** Upstream overflow (circuit breaking). */
  UpstreamOverflow: 'UO',
  /** Upstream request timeout. */
  UpstreamRequestTimeout: 'UT',
  /** Retry limit reached. */
  UpstreamRetryLimitExceeded: 'URX',
  /** Upstream connection termination. */
  UpstreamConnectionTermination: 'UC',
  /** Upstream remote reset. */
  UpstreamRemoteReset: 'UR',
  /** Downstream connection termination (the client went away). */
  DownstreamConnectionTermination: 'DC',
  /** Delayed by fault injection. */
  DelayInjected: 'DI',
  /** Aborted by fault injection. */
  FaultInjected: 'FI',
  /** Downstream protocol error. */
  DownstreamProtocolError: 'DPE',
  /** Upstream protocol error. */
  UpstreamProtocolError: 'UPE',
} as const;

export type ResponseFlagValue = (typeof ResponseFlag)[keyof typeof ResponseFlag];
