//! Mock HubSpot (being written).
