/**
 * The gauges of `OperationMetrics` (see its `gauge`): what is kept of one, and its data points at
 * a collection, as the SDK's observable gauges report them.
 */
import { type HrTime, ValueType } from '@opentelemetry/api';
import { millisToHrTime } from '@opentelemetry/core';
import {
  type AggregationTemporality,
  type DataPoint,
  DataPointType,
  type GaugeMetricData,
  InstrumentType,
  type MetricData,
} from '@opentelemetry/sdk-metrics';
import type { GaugeCallback, GaugeDefinition } from './metric-sink.ts';

/** A gauge: its descriptor, its callback, the start of its points. */
export interface Gauge {
  readonly descriptor: MetricData['descriptor'];
  readonly callback: GaugeCallback;
  /** When it was defined: its points' start (the SDK's is its first collection's). */
  readonly startTime: HrTime;
}

/** A gauge of `definition`, with the descriptor the SDK gives an observable gauge. */
export function defineGauge(definition: GaugeDefinition, callback: GaugeCallback): Gauge {
  return {
    descriptor: {
      name: definition.name,
      type: InstrumentType.OBSERVABLE_GAUGE,
      description: definition.description,
      unit: definition.unit,
      valueType: ValueType.DOUBLE,
      advice: {},
    } as MetricData['descriptor'],
    callback,
    startTime: millisToHrTime(Date.now()),
  };
}

/** A gauge's points now, in `temporality` (none when it has no series; non-finite values left out). */
export function gaugeData(gauge: Gauge, temporality: AggregationTemporality, endTime: HrTime): MetricData[] {
  const dataPoints: DataPoint<number>[] = [];
  const startTime = gauge.startTime;
  gauge.callback((value, attributes) => {
    if (Number.isFinite(value)) dataPoints.push({ attributes, startTime, endTime, value });
  });
  if (dataPoints.length === 0) return [];
  return [
    {
      descriptor: gauge.descriptor,
      aggregationTemporality: temporality,
      dataPointType: DataPointType.GAUGE,
      dataPoints,
    } satisfies GaugeMetricData,
  ];
}
