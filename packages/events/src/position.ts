/** Where an event sits in the log it was consumed from (distributed mode): a partition and an offset. */
export interface LogPosition {
  /** The topic and partition, e.g. `tollgate.usage.v1/3`. */
  stream: string;
  /** The record's offset (a 64-bit integer, as a decimal string). */
  offset: string;
}
